/* SPDX-License-Identifier: MIT */
/*
 * cluster_monitor - print every cluster membership change with the member
 * table, in the style of the CMM Programming Guide's example loop.
 *
 * Usage: cluster_monitor [-n COUNT] [-t SECONDS] [-s]
 *   -n COUNT    exit after COUNT notifications (default: run until SIGINT)
 *   -t SECONDS  timeout of every CMM call (cmm_connect; default 5)
 *   -s          after registering, disqualify the local node and seize the
 *               qualification back (a master change every monitor sees);
 *               only on the master, the one node allowed to change
 *               qualifications, and only when no other node can take the
 *               role over (a one-node domain): else the vice-master would
 *               become master and the seize be refused
 *
 * Each notification is printed as "notification: KIND node ID (NAME)",
 * followed by the member table as it is when printed. It runs against any
 * node of a domain (gsd --cluster): every node sends the same
 * notifications in the same order, so monitors on several nodes print the
 * same changes. To check that the nodes agree on the cluster right now, use
 * cmm_check (samples/cmm_check.c). Exit status 1 when the connection to the
 * local gsd is lost (CMM_EBADF) or a call fails.
 *
 * The gsd endpoint comes from HA_GS_SOCKET, as for every CMM program.
 * C99, only <cmm.h> and libc/POSIX.
 */
#define _POSIX_C_SOURCE 200809L

#include <cmm.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested = 0;
static long notifications_seen = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static const char *change_name(cmm_cmchanges_t change)
{
    switch (change) {
    case CMM_MASTER_ELECTED:
        return "MASTER_ELECTED";
    case CMM_MASTER_DEMOTED:
        return "MASTER_DEMOTED";
    case CMM_VICEMASTER_ELECTED:
        return "VICEMASTER_ELECTED";
    case CMM_VICEMASTER_DEMOTED:
        return "VICEMASTER_DEMOTED";
    case CMM_MEMBER_JOINED:
        return "MEMBER_JOINED";
    case CMM_MEMBER_LEFT:
        return "MEMBER_LEFT";
    case CMM_STALE_CLUSTER:
        return "STALE_CLUSTER";
    case CMM_INVALID_CLUSTER:
        return "INVALID_CLUSTER";
    case CMM_VALID_CLUSTER:
        return "VALID_CLUSTER";
    case CMM_NODE_ELIGIBLE:
        return "NODE_ELIGIBLE";
    case CMM_NODE_INELIGIBLE:
        return "NODE_INELIGIBLE";
    }
    return "UNKNOWN";
}

static const char *role_name(const cmm_member_t *member)
{
    if (cmm_member_ismaster(member))
        return "master";
    if (cmm_member_isvicemaster(member))
        return "vice-master";
    if (cmm_member_isoutofcluster(member))
        return "out";
    return "in";
}

/* Prints the members as they are now (not as they were when the
 * notification was generated). */
static void print_cluster(void)
{
    cmm_member_t *table = NULL;
    uint32_t count = 0, i;
    cmm_error_t rc;

    for (;;) {
        rc = cmm_member_getcount(&count);
        if (rc != CMM_OK && rc != CMM_EAGAIN) {
            printf("  cluster: %s\n", cmm_strerror(rc));
            return;
        }
        free(table);
        table = calloc(count > 0 ? count : 1, sizeof *table);
        if (table == NULL) {
            printf("  cluster: out of memory\n");
            return;
        }
        rc = cmm_member_getall(count, table, &count);
        if (rc != CMM_ERANGE) /* ERANGE: a node joined meanwhile, retry */
            break;
    }
    if (rc != CMM_OK && rc != CMM_EAGAIN) {
        printf("  cluster: %s\n", cmm_strerror(rc));
    } else {
        printf("  cluster: %lu member(s)%s\n", (unsigned long)count,
               rc == CMM_EAGAIN ? " (view may be stale)" : "");
        for (i = 0; i < count; ++i)
            printf("    node %lu %s role=%s eligible=%d qualified=%d incarnation=%lu\n",
                   (unsigned long)table[i].nodeid, table[i].name, role_name(&table[i]),
                   cmm_member_iseligible(&table[i]), cmm_member_isqualified(&table[i]),
                   (unsigned long)table[i].incarnation_number);
    }
    free(table);
    fflush(stdout);
}

static void on_change(const cmm_cmc_notification_t *change, void *client_data)
{
    const char *who = (const char *)client_data;
    cmm_member_t node;
    cmm_error_t rc;

    printf("%s: %s node %lu", who, change_name(change->cmchange), (unsigned long)change->nodeid);
    /* A node that left is still described (as out of the cluster); the
     * cluster-wide kinds carry node 0. */
    if (change->nodeid != CMM_NO_NODE) {
        rc = cmm_member_getinfo(change->nodeid, &node);
        if (rc == CMM_OK || rc == CMM_EAGAIN)
            printf(" (%s)", node.name);
    }
    printf("\n");
    print_cluster();
    ++notifications_seen;
}

static int fail(const char *what, cmm_error_t rc)
{
    fprintf(stderr, "cluster_monitor: %s: %s\n", what, cmm_strerror(rc));
    return EXIT_FAILURE;
}

int main(int argc, char **argv)
{
    static const cmm_cmchanges_t wanted[] = {
        CMM_MASTER_ELECTED,     CMM_MASTER_DEMOTED,  CMM_VICEMASTER_ELECTED,
        CMM_VICEMASTER_DEMOTED, CMM_MEMBER_JOINED,   CMM_MEMBER_LEFT,
        CMM_STALE_CLUSTER,      CMM_INVALID_CLUSTER, CMM_VALID_CLUSTER,
    };
    long limit = -1;
    int exercise = 0, opt, fd = -1;
    timespec_t timeout;
    cmm_nodeid_t me = CMM_INVALID_NODE_ID;
    cmm_error_t rc;
    struct sigaction action;

    timeout.tv_sec = 5;
    timeout.tv_nsec = 0;
    while ((opt = getopt(argc, argv, "n:t:s")) != -1) {
        switch (opt) {
        case 'n':
            limit = strtol(optarg, NULL, 10);
            break;
        case 't':
            timeout.tv_sec = strtol(optarg, NULL, 10);
            break;
        case 's':
            exercise = 1;
            break;
        default:
            fprintf(stderr, "usage: %s [-n COUNT] [-t SECONDS] [-s]\n", argv[0]);
            return 2;
        }
    }

    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    if ((rc = cmm_connect(timeout)) != CMM_OK)
        return fail("cmm_connect", rc);
    if ((rc = cmm_node_getid(&me)) != CMM_OK)
        return fail("cmm_node_getid", rc);
    if ((rc = cmm_cmc_register(on_change, (void *)"notification")) != CMM_OK)
        return fail("cmm_cmc_register", rc);
    rc = cmm_cmc_filter(CMM_CMC_NOTIFY_SET, wanted, sizeof wanted / sizeof wanted[0]);
    if (rc != CMM_OK)
        return fail("cmm_cmc_filter", rc);
    if ((rc = cmm_notify_getfd(&fd)) != CMM_OK)
        return fail("cmm_notify_getfd", rc);

    printf("monitoring from node %lu\n", (unsigned long)me);
    print_cluster();

    if (exercise) {
        cmm_member_t master;
        rc = cmm_master_getinfo(&master);
        if (rc != CMM_OK)
            return fail("cmm_master_getinfo", rc);
        if (master.nodeid != me) {
            fprintf(stderr, "cluster_monitor: -s must run on the master (node %lu)\n",
                    (unsigned long)master.nodeid);
            return EXIT_FAILURE;
        }
        /* A vice-master would take the role over and the seize be refused,
         * leaving this node disqualified. */
        if (cmm_vicemaster_getinfo(&master) == CMM_OK) {
            fprintf(stderr, "cluster_monitor: -s needs a domain without a vice-master (node %lu)\n",
                    (unsigned long)master.nodeid);
            return EXIT_FAILURE;
        }
        if ((rc = cmm_member_setqualif(me, CMM_DISQUALIFIED_MEMBER)) != CMM_OK)
            return fail("cmm_member_setqualif", rc);
        if ((rc = cmm_member_seizequalif()) != CMM_OK)
            return fail("cmm_member_seizequalif", rc);
    }

    while (!stop_requested && (limit < 0 || notifications_seen < limit)) {
        struct pollfd pfd;
        int n;
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        n = poll(&pfd, 1, 1000);
        if (n < 0 && errno != EINTR) {
            perror("poll");
            break;
        }
        if (n <= 0)
            continue;
        rc = cmm_notify_dispatch();
        if (rc == CMM_EBADF) {
            fprintf(stderr, "cluster_monitor: connection to gsd lost\n");
            cmm_cmc_unregister();
            return EXIT_FAILURE;
        }
        if (rc != CMM_OK)
            return fail("cmm_notify_dispatch", rc);
    }

    cmm_cmc_unregister();
    cmm_disconnect();
    printf("done after %ld notification(s)\n", notifications_seen);
    return EXIT_SUCCESS;
}
