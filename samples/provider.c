/* SPDX-License-Identifier: MIT */
/*
 * provider.c - join a group, change its state value, leave.
 *
 * Shows: ha_gs_join with group attributes, waiting for the join's approved
 * callback, ha_gs_change_state_value retried on HA_GS_COLLIDE, the approved,
 * rejected and announcement callbacks, ha_gs_leave.
 *
 * Usage: provider [-N] [-w] GROUP INSTANCE [STATE...]
 *   GROUP     group name (created by the first provider that joins)
 *   INSTANCE  provider instance number, unique in the group on this node
 *   STATE     each one is proposed in turn as the group's new state value;
 *             the next is proposed once the previous one is approved or
 *             rejected
 *   -N        n-phase: the group's joins and this provider's state changes
 *             are voted on; this provider approves everything. Use it to
 *             share a group with the voter sample.
 *   -w        after the state changes, stay in the group until SIGINT or
 *             SIGTERM, printing what happens in it, then leave.
 *
 * A provider is written INSTANCE@NODE. Exits 0 after leaving, 1 if the join
 * was rejected or the connection to gsd was lost, 2 on a usage or setup error.
 *
 * Run (with a gsd listening on $HA_GS_SOCKET):
 *   HA_GS_SOCKET=ipc:///tmp/gs/gsd.sock ./provider demo 1 starting ready
 */
#define _POSIX_C_SOURCE 200809L

#include <ha_gs.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *group_name;
static int instance;
static ha_gs_node_number_t node_number;
static int n_phase;
static ha_gs_descriptor_t descriptor;
static ha_gs_token_t token;
static volatile sig_atomic_t stop_requested;

/* Set by the callbacks; the main loop waits for them. */
static int joined;         /* 1 approved, -1 rejected */
static int change_outcome; /* 1 approved, -1 rejected, for our state change */
static int left;           /* our leave was approved */
static int connection_lost;
static const char *pending_state; /* the state value we proposed, if any */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static const char *protocol_name(ha_gs_request_t type)
{
    switch (type) {
    case HA_GS_JOIN:
        return "JOIN";
    case HA_GS_LEAVE:
        return "LEAVE";
    case HA_GS_FAILURE_LEAVE:
        return "FAILURE_LEAVE";
    case HA_GS_EXPEL:
        return "EXPEL";
    case HA_GS_CAST_OUT:
        return "CAST_OUT";
    case HA_GS_STATE_VALUE_CHANGE:
        return "STATE_VALUE_CHANGE";
    case HA_GS_PROVIDER_MESSAGE:
        return "PROVIDER_MESSAGE";
    case HA_GS_GROUP_ATTRIBUTE_CHANGE:
        return "GROUP_ATTRIBUTE_CHANGE";
    case HA_GS_SOURCE_STATE_REFLECTION:
        return "SOURCE_STATE_REFLECTION";
    case HA_GS_MERGE:
        return "MERGE";
    case HA_GS_SUBSCRIPTION:
        return "SUBSCRIPTION";
    }
    return "UNKNOWN";
}

static void print_summary(ha_gs_summary_code_t code)
{
    static const struct {
        ha_gs_summary_code_t flag;
        const char *name;
    } names[] = {
        {HA_GS_EXPLICIT_APPROVE, "EXPLICIT_APPROVE"},
        {HA_GS_EXPLICIT_REJECT, "EXPLICIT_REJECT"},
        {HA_GS_DEFAULT_APPROVE, "DEFAULT_APPROVE"},
        {HA_GS_DEFAULT_REJECT, "DEFAULT_REJECT"},
        {HA_GS_TIME_LIMIT_EXCEEDED, "TIME_LIMIT_EXCEEDED"},
        {HA_GS_PROVIDER_FAILED, "PROVIDER_FAILED"},
        {HA_GS_RESPONSIVENESS_NO_RESPONSE, "RESPONSIVENESS_NO_RESPONSE"},
        {HA_GS_GROUP_DISSOLVED, "GROUP_DISSOLVED"},
    };
    size_t i;
    int first = 1;

    printf(" (");
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (code & names[i].flag) {
            printf("%s%s", first ? "" : "|", names[i].name);
            first = 0;
        }
    }
    printf("%s)", first ? "no summary flags" : "");
}

static void print_membership(const char *label, const ha_gs_membership_t *m)
{
    unsigned int i;

    if (m == NULL)
        return;
    printf(" %s=[", label);
    for (i = 0; i < m->gs_count; i++)
        printf("%s%d@%d", i ? " " : "", m->gs_providers[i].gs_instance_number,
               m->gs_providers[i].gs_node_number);
    printf("]");
}

static void print_bytes(const char *label, const char *data, unsigned int length)
{
    unsigned int i;

    printf(" %s=\"", label);
    for (i = 0; i < length; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            putchar(c);
        else
            printf("\\x%02x", c);
    }
    printf("\"");
}

/* What a protocol changes: who joins or leaves, the new state, the message.
 * gs_current_providers is the membership the proposal was made against in
 * n-phase and rejected notifications ("members"), and the membership in
 * force after the change in approved ones ("members_after"). */
static void print_proposal(const char *members_label, ha_gs_request_t type,
                           const ha_gs_proposal_t *p)
{
    if (p == NULL)
        return;
    print_membership(members_label, p->gs_current_providers);
    if (type == HA_GS_JOIN)
        print_membership("joining", p->gs_changing_providers);
    else if (type == HA_GS_LEAVE || type == HA_GS_FAILURE_LEAVE || type == HA_GS_EXPEL ||
             type == HA_GS_CAST_OUT)
        print_membership("leaving", p->gs_changing_providers);
    if (p->gs_proposed_state_value != NULL)
        print_bytes("state", p->gs_proposed_state_value->gs_state,
                    p->gs_proposed_state_value->gs_length);
    if (p->gs_provider_message != NULL)
        print_bytes("message", p->gs_provider_message->gs_message,
                    p->gs_provider_message->gs_length);
}

static int is_own_leave(const ha_gs_proposal_t *p)
{
    unsigned int i;

    if (p == NULL || p->gs_changing_providers == NULL)
        return 0;
    for (i = 0; i < p->gs_changing_providers->gs_count; i++) {
        const ha_gs_provider_t *who = &p->gs_changing_providers->gs_providers[i];
        if (who->gs_instance_number == instance && who->gs_node_number == node_number)
            return 1;
    }
    return 0;
}

/* Whether a state-change protocol is the one we proposed (another provider's
 * change may have been approved just before ours was accepted). */
static int is_own_change(const ha_gs_proposal_t *p)
{
    const ha_gs_state_value_t *s = p ? p->gs_proposed_state_value : NULL;

    return pending_state != NULL && s != NULL && s->gs_length == strlen(pending_state) &&
           memcmp(s->gs_state, pending_state, s->gs_length) == 0;
}

static void on_n_phase(const ha_gs_n_phase_notification_t *n)
{
    ha_gs_rc_t rc;

    printf("provider %d: %s phase %u:", instance, protocol_name(n->gs_protocol_type),
           n->gs_proposal ? n->gs_proposal->gs_phase_info.gs_phase_number : 0u);
    print_proposal("members", n->gs_protocol_type, n->gs_proposal);
    printf(" -> vote APPROVE\n");
    rc = ha_gs_vote(n->gs_provider_token, HA_GS_VOTE_APPROVE, NULL, NULL, HA_GS_NULL_VOTE);
    if (rc != HA_GS_OK)
        printf("provider %d: ha_gs_vote: %s\n", instance, ha_gs_strerror(rc));
}

static void on_approved(const ha_gs_approved_notification_t *n)
{
    printf("provider %d: %s approved:", instance, protocol_name(n->gs_protocol_type));
    print_proposal("members_after", n->gs_protocol_type, n->gs_proposal);
    printf("\n");
    switch (n->gs_protocol_type) {
    case HA_GS_JOIN:
        if (!joined)
            joined = 1; /* the first join we see approved is our own */
        break;
    case HA_GS_STATE_VALUE_CHANGE:
        if (is_own_change(n->gs_proposal))
            change_outcome = 1;
        break;
    case HA_GS_LEAVE:
        if (is_own_leave(n->gs_proposal))
            left = 1;
        break;
    default:
        break;
    }
}

static void on_rejected(const ha_gs_rejected_notification_t *n)
{
    printf("provider %d: %s rejected", instance, protocol_name(n->gs_protocol_type));
    print_summary(n->gs_summary_code);
    printf(":");
    print_proposal("members", n->gs_protocol_type, n->gs_proposal);
    printf("\n");
    if (n->gs_protocol_type == HA_GS_JOIN && !joined)
        joined = -1;
    else if (n->gs_protocol_type == HA_GS_STATE_VALUE_CHANGE && is_own_change(n->gs_proposal))
        change_outcome = -1;
}

static void on_announcement(const ha_gs_announcement_notification_t *n)
{
    printf("provider %d: announcement", instance);
    print_summary(n->gs_summary_code);
    print_membership("providers", n->gs_announcement);
    printf("\n");
}

/* Waits up to timeout_ms for the descriptor, then runs pending callbacks. */
static void pump(int timeout_ms)
{
    struct pollfd pfd;
    int n;

    pfd.fd = descriptor;
    pfd.events = POLLIN;
    pfd.revents = 0;
    n = poll(&pfd, 1, timeout_ms);
    if (n < 0 && errno != EINTR) {
        perror("provider: poll");
        connection_lost = 1;
        return;
    }
    if (n > 0 && ha_gs_dispatch(HA_GS_NON_BLOCKING) != HA_GS_OK) {
        printf("provider %d: lost the connection to gsd\n", instance);
        connection_lost = 1;
    }
}

/* Waits until *flag is non-zero; 0 if the connection is lost or (when
 * interruptible) a signal arrived first. */
static int wait_for(const int *flag, int interruptible)
{
    while (*flag == 0) {
        if (connection_lost || (interruptible && stop_requested))
            return 0;
        pump(1000);
    }
    return 1;
}

/* Proposes a new state value; returns 1 approved, -1 rejected, 0 stopped. */
static int change_state(const char *value)
{
    ha_gs_state_value_t state;
    ha_gs_proposal_info_t request;
    ha_gs_rc_t rc;

    state.gs_length = (unsigned int)strlen(value);
    state.gs_state = (char *)value;
    memset(&request, 0, sizeof request);
    request.gs_state_change_request.gs_num_phases = n_phase ? HA_GS_N_PHASE : HA_GS_1_PHASE;
    request.gs_state_change_request.gs_time_limit = 10;
    request.gs_state_change_request.gs_new_state = &state;

    for (;;) {
        rc = ha_gs_change_state_value(token, &request);
        if (rc != HA_GS_COLLIDE)
            break;
        /* Another protocol runs in the group: let it finish, then retry. */
        printf("provider %d: state change collided, retrying\n", instance);
        pump(100);
        if (connection_lost || stop_requested)
            return 0;
    }
    if (rc != HA_GS_OK) {
        printf("provider %d: ha_gs_change_state_value: %s\n", instance, ha_gs_strerror(rc));
        return 0;
    }
    printf("provider %d: proposed state \"%s\"\n", instance, value);
    change_outcome = 0;
    pending_state = value;
    if (!wait_for(&change_outcome, 0))
        change_outcome = 0;
    pending_state = NULL;
    return change_outcome;
}

static void leave_group(void)
{
    ha_gs_proposal_info_t request;
    ha_gs_rc_t rc;

    memset(&request, 0, sizeof request);
    request.gs_leave_request.gs_num_phases = HA_GS_1_PHASE;
    request.gs_leave_request.gs_time_limit = 10;
    request.gs_leave_request.gs_leave_code = 0;
    for (;;) {
        rc = ha_gs_leave(token, &request);
        if (rc != HA_GS_COLLIDE)
            break;
        pump(100);
        if (connection_lost)
            return;
    }
    if (rc != HA_GS_OK) {
        printf("provider %d: ha_gs_leave: %s\n", instance, ha_gs_strerror(rc));
        return;
    }
    if (wait_for(&left, 0))
        printf("provider %d: left group %s\n", instance, group_name);
}

static int usage(void)
{
    fprintf(stderr, "usage: provider [-N] [-w] GROUP INSTANCE [STATE...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static ha_gs_group_attributes_t attributes;
    ha_gs_proposal_info_t request;
    struct sigaction sa;
    int stay = 0;
    ha_gs_rc_t rc;
    char *end;
    int i;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-N") == 0)
            n_phase = 1;
        else if (strcmp(argv[i], "-w") == 0)
            stay = 1;
        else
            return usage();
    }
    if (argc - i < 2)
        return usage();
    group_name = argv[i++];
    instance = (int)strtol(argv[i], &end, 10);
    if (*end != '\0' || instance < 0 || instance > 32767)
        return usage();
    i++;

    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    rc = ha_gs_init(&descriptor, HA_GS_SOCKET_NO_SIGNAL, NULL, NULL, NULL, NULL, NULL);
    if (rc != HA_GS_OK) {
        fprintf(stderr, "provider: ha_gs_init: %s\n", ha_gs_strerror(rc));
        return 2;
    }
    rc = ha_gs_get_node_number(&node_number);
    if (rc != HA_GS_OK) {
        fprintf(stderr, "provider: ha_gs_get_node_number: %s\n", ha_gs_strerror(rc));
        ha_gs_quit();
        return 2;
    }

    /* Every provider of a group must give the same attributes. */
    attributes.gs_version = 1;
    attributes.gs_sizeof_group_attributes = sizeof attributes;
    attributes.gs_batch_control = HA_GS_NO_BATCHING;
    attributes.gs_num_phases = n_phase ? HA_GS_N_PHASE : HA_GS_1_PHASE;
    attributes.gs_group_default_vote = HA_GS_VOTE_APPROVE;
    attributes.gs_time_limit = 10;
    attributes.gs_group_name = group_name;

    memset(&request, 0, sizeof request);
    request.gs_join_request.gs_group_attributes = &attributes;
    request.gs_join_request.gs_provider_instance = (short)instance;
    request.gs_join_request.gs_provider_local_name = "provider sample";
    request.gs_join_request.gs_n_phase_protocol_callback = on_n_phase;
    request.gs_join_request.gs_protocol_approved_callback = on_approved;
    request.gs_join_request.gs_protocol_rejected_callback = on_rejected;
    request.gs_join_request.gs_announcement_callback = on_announcement;
    rc = ha_gs_join(&token, &request);
    if (rc != HA_GS_OK) {
        fprintf(stderr, "provider: ha_gs_join: %s\n", ha_gs_strerror(rc));
        ha_gs_quit();
        return 2;
    }
    printf("provider %d: joining group %s (%s)\n", instance, group_name,
           n_phase ? "n-phase" : "one-phase");
    if (!wait_for(&joined, 0) || joined < 0) {
        ha_gs_quit();
        return 1;
    }
    printf("provider %d: joined group %s\n", instance, group_name);

    for (; i < argc && !stop_requested && !connection_lost; i++)
        change_state(argv[i]);

    if (stay && !connection_lost) {
        printf("provider %d: staying in the group until SIGINT or SIGTERM\n", instance);
        while (!stop_requested && !connection_lost)
            pump(1000);
    }
    if (!connection_lost)
        leave_group();
    ha_gs_quit();
    return connection_lost ? 1 : 0;
}
