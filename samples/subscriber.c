/* SPDX-License-Identifier: MIT */
/*
 * subscriber.c - watch a group without joining it.
 *
 * Shows: ha_gs_init, ha_gs_subscribe with
 * HA_GS_SUBSCRIBE_ALL_MEMBERSHIP | HA_GS_SUBSCRIBE_STATE, a poll() loop on the
 * descriptor with ha_gs_dispatch(HA_GS_NON_BLOCKING), the subscriber callback
 * and the delayed-error callback (HA_GS_UNKNOWN_GROUP).
 *
 * Usage: subscriber [-w] [-n COUNT] GROUP
 *   -w        wait for the group to exist: on HA_GS_UNKNOWN_GROUP subscribe
 *             again every 100 ms instead of exiting.
 *   -n COUNT  exit after COUNT notifications.
 *
 * Prints one line per notification, for example
 *   subscriber: #2 DELTA_JOIN|MEMBERSHIP members=[1@1 2@1] joined=[2@1]
 *   subscriber: #3 STATE state="ready"
 * where a provider is written INSTANCE@NODE. Exits 0 when the group
 * dissolves, after COUNT notifications, or on SIGINT/SIGTERM; exits 1 when the
 * connection to gsd is lost (HA_GS_SUBSCRIPTION_GS_HAS_DIED) or the group does
 * not exist (without -w); exits 2 on a usage or setup error.
 *
 * Run (with a gsd listening on $HA_GS_SOCKET):
 *   gsd --socket ipc:///tmp/gs/gsd.sock &
 *   HA_GS_SOCKET=ipc:///tmp/gs/gsd.sock ./subscriber -w demo
 */
#define _POSIX_C_SOURCE 200809L

#include <ha_gs.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *group_name;
static int wait_for_group;
static long max_notifications; /* 0 = no limit */
static long notifications;
static int done;      /* set by a final notification or the count */
static int exit_code; /* process exit status once done */
static int resubscribe;
static int told_waiting;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void print_membership(const char *label, const ha_gs_membership_t *m)
{
    unsigned int i;

    printf(" %s=[", label);
    if (m != NULL) {
        for (i = 0; i < m->gs_count; i++)
            printf("%s%d@%d", i ? " " : "", m->gs_providers[i].gs_instance_number,
                   m->gs_providers[i].gs_node_number);
    }
    printf("]");
}

/* Prints a state value as a quoted string, escaping non-printable bytes. */
static void print_state(const ha_gs_state_value_t *s)
{
    unsigned int i;

    if (s == NULL || s->gs_state == NULL) {
        printf(" state=(none)");
        return;
    }
    printf(" state=\"");
    for (i = 0; i < s->gs_length; i++) {
        unsigned char c = (unsigned char)s->gs_state[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            putchar(c);
        else
            printf("\\x%02x", c);
    }
    printf("\"");
}

static void print_flags(ha_gs_subscription_type_t t)
{
    static const struct {
        ha_gs_subscription_type_t flag;
        const char *name;
    } names[] = {
        {HA_GS_SUBSCRIPTION_STATE, "STATE"},
        {HA_GS_SUBSCRIPTION_DELTA_JOIN, "DELTA_JOIN"},
        {HA_GS_SUBSCRIPTION_DELTA_LEAVE, "DELTA_LEAVE"},
        {HA_GS_SUBSCRIPTION_MEMBERSHIP, "MEMBERSHIP"},
        {HA_GS_SUBSCRIPTION_SPECIAL_DATA, "SPECIAL_DATA"},
        {HA_GS_SUBSCRIPTION_DISSOLVED, "DISSOLVED"},
        {HA_GS_SUBSCRIPTION_GS_HAS_DIED, "GS_HAS_DIED"},
    };
    size_t i;
    int first = 1;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (t & names[i].flag) {
            printf("%s%s", first ? "" : "|", names[i].name);
            first = 0;
        }
    }
    if (first)
        printf("(none)");
}

static void on_notification(const ha_gs_subscription_notification_t *n)
{
    const ha_gs_subscription_type_t t = n->gs_subscription_type;

    notifications++;
    printf("subscriber: #%ld ", notifications);
    print_flags(t);
    if (t & HA_GS_SUBSCRIPTION_MEMBERSHIP)
        print_membership("members", n->gs_full_membership);
    if (t & HA_GS_SUBSCRIPTION_DELTA_JOIN)
        print_membership("joined", n->gs_changing_membership);
    if (t & HA_GS_SUBSCRIPTION_DELTA_LEAVE)
        print_membership("left", n->gs_changing_membership);
    if (t & HA_GS_SUBSCRIPTION_STATE)
        print_state(n->gs_state_value);
    printf("\n");

    if (t & HA_GS_SUBSCRIPTION_DISSOLVED) {
        printf("subscriber: group %s dissolved\n", group_name);
        done = 1;
    } else if (t & HA_GS_SUBSCRIPTION_GS_HAS_DIED) {
        printf("subscriber: lost the connection to gsd\n");
        done = 1;
        exit_code = 1;
    } else if (max_notifications > 0 && notifications >= max_notifications) {
        done = 1;
    }
}

static void on_delayed_error(const ha_gs_delayed_error_notification_t *n)
{
    if (n->gs_protocol_type == HA_GS_SUBSCRIPTION &&
        n->gs_delayed_return_code == HA_GS_UNKNOWN_GROUP && wait_for_group) {
        if (!told_waiting)
            printf("subscriber: group %s does not exist yet, waiting\n", group_name);
        told_waiting = 1;
        resubscribe = 1;
        return;
    }
    printf("subscriber: delayed error on token %d: %s\n", n->gs_request_token,
           ha_gs_strerror(n->gs_delayed_return_code));
    done = 1;
    exit_code = 1;
}

static ha_gs_rc_t subscribe(void)
{
    ha_gs_proposal_info_t request;
    ha_gs_token_t token;
    ha_gs_rc_t rc;

    memset(&request, 0, sizeof request);
    request.gs_subscribe_request.gs_subscription_control =
        HA_GS_SUBSCRIBE_ALL_MEMBERSHIP | HA_GS_SUBSCRIBE_STATE;
    request.gs_subscribe_request.gs_subscription_group = group_name;
    request.gs_subscribe_request.gs_subscription_callback = on_notification;
    rc = ha_gs_subscribe(&token, &request);
    if (rc != HA_GS_OK)
        fprintf(stderr, "subscriber: ha_gs_subscribe: %s\n", ha_gs_strerror(rc));
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static int usage(void)
{
    fprintf(stderr, "usage: subscriber [-w] [-n COUNT] GROUP\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    ha_gs_descriptor_t fd;
    ha_gs_rc_t rc;
    int i;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-w") == 0) {
            wait_for_group = 1;
        } else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            max_notifications = strtol(argv[++i], NULL, 10);
            if (max_notifications <= 0)
                return usage();
        } else {
            return usage();
        }
    }
    if (i + 1 != argc)
        return usage();
    group_name = argv[i];

    /* Output goes to a pipe or file in the demo: flush every line. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    rc = ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, NULL, NULL, NULL, on_delayed_error, NULL);
    if (rc != HA_GS_OK) {
        fprintf(stderr, "subscriber: ha_gs_init: %s\n", ha_gs_strerror(rc));
        return 2;
    }
    if (subscribe() != HA_GS_OK) {
        ha_gs_quit();
        return 2;
    }
    printf("subscriber: watching group %s\n", group_name);

    while (!done && !stop_requested) {
        struct pollfd pfd;
        int n;

        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        n = poll(&pfd, 1, 1000);
        if (n < 0 && errno != EINTR) {
            perror("subscriber: poll");
            exit_code = 2;
            break;
        }
        if (n > 0) {
            rc = ha_gs_dispatch(HA_GS_NON_BLOCKING);
            if (rc != HA_GS_OK) {
                /* HA_GS_NOT_OK: the connection is gone (GS_HAS_DIED was delivered). */
                if (!done)
                    printf("subscriber: ha_gs_dispatch: %s\n", ha_gs_strerror(rc));
                exit_code = 1;
                break;
            }
        }
        if (resubscribe && !done && !stop_requested) {
            resubscribe = 0;
            sleep_ms(100);
            if (subscribe() != HA_GS_OK) {
                exit_code = 2;
                break;
            }
        }
    }

    ha_gs_quit();
    return exit_code;
}
