/* SPDX-License-Identifier: MIT */
/*
 * cmm_check - print the local node's view of the cluster as one stable
 * line, to compare across the nodes of a domain.
 *
 * Usage: cmm_check [-t SECONDS]
 *   -t SECONDS  timeout of every CMM call (cmm_connect; default: keep the
 *               library's default of 5 s)
 *
 * Output (stdout, one line):
 *   nodes=3 master=1 vicemaster=2 members=1,2,3 names=gsnode1,gsnode2,gsnode3
 * nodes is the number of members, master and vicemaster their node ids (or
 * "none"), members the node ids in increasing order and names their names
 * in the same order. Nothing in the line depends on the node it runs on,
 * so every node of a domain that agrees prints the same line. Run it on
 * every node and compare, e.g. `pdsh -w node[1-3] cmm_check | dshbak -c`
 * (one block: the domain agrees); docs/cluster.md, "Checking a domain".
 *
 * Exit status:
 *   0  the line is the node's current view;
 *   1  a CMM call failed (the message on stderr names the call and the
 *      error, e.g. no gsd serves HA_GS_SOCKET);
 *   2  usage;
 *   3  the line is printed but cannot be trusted: the view may be stale
 *      (CMM_EAGAIN: no news from the master), or the local node is out of
 *      the cluster (cut off, or not yet synchronized with the domain).
 *
 * The gsd endpoint comes from HA_GS_SOCKET, as for every CMM program.
 * C99, only <cmm.h> and libc/POSIX.
 */
#define _POSIX_C_SOURCE 200809L

#include <cmm.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int fail(const char *what, cmm_error_t rc)
{
    fprintf(stderr, "cmm_check: %s: %s\n", what, cmm_strerror(rc));
    return 1;
}

static void print_id(const char *label, int found, cmm_nodeid_t id)
{
    if (found)
        printf(" %s=%lu", label, (unsigned long)id);
    else
        printf(" %s=none", label);
}

/* The members in one cmm_member_getall call, so that count, roles and
 * names come from the same snapshot. *table is malloc'ed; rc as getall's. */
static cmm_error_t get_members(cmm_member_t **table, uint32_t *count)
{
    cmm_error_t rc;
    *table = NULL;
    for (;;) {
        rc = cmm_member_getcount(count);
        if (rc != CMM_OK && rc != CMM_EAGAIN)
            return rc;
        free(*table);
        *table = calloc(*count > 0 ? *count : 1, sizeof **table);
        if (*table == NULL)
            return CMM_ENOMEM;
        rc = cmm_member_getall(*count, *table, count);
        if (rc != CMM_ERANGE) /* ERANGE: a node joined meanwhile, retry */
            return rc;
    }
}

int main(int argc, char **argv)
{
    timespec_t timeout = {0, 0}; /* {0, 0}: connect, keep the timeout */
    cmm_member_t *table = NULL, self;
    cmm_nodeid_t me = CMM_INVALID_NODE_ID, master = 0, vicemaster = 0;
    int has_master = 0, has_vicemaster = 0, opt, status = 0;
    uint32_t count = 0, i;
    cmm_error_t rc, self_rc;

    while ((opt = getopt(argc, argv, "t:")) != -1) {
        switch (opt) {
        case 't':
            timeout.tv_sec = strtol(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: %s [-t SECONDS]\n", argv[0]);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "usage: %s [-t SECONDS]\n", argv[0]);
        return 2;
    }

    if ((rc = cmm_connect(timeout)) != CMM_OK)
        return fail("cmm_connect", rc);
    if ((rc = cmm_node_getid(&me)) != CMM_OK)
        return fail("cmm_node_getid", rc);
    rc = get_members(&table, &count);
    if (rc != CMM_OK && rc != CMM_EAGAIN) {
        free(table);
        return fail("cmm_member_getall", rc);
    }
    self_rc = cmm_member_getinfo(me, &self);
    if (self_rc != CMM_OK && self_rc != CMM_EAGAIN) {
        free(table);
        return fail("cmm_member_getinfo", self_rc);
    }

    for (i = 0; i < count; ++i) {
        if (cmm_member_ismaster(&table[i])) {
            has_master = 1;
            master = table[i].nodeid;
        } else if (cmm_member_isvicemaster(&table[i])) {
            has_vicemaster = 1;
            vicemaster = table[i].nodeid;
        }
    }
    printf("nodes=%lu", (unsigned long)count);
    print_id("master", has_master, master);
    print_id("vicemaster", has_vicemaster, vicemaster);
    printf(" members=");
    for (i = 0; i < count; ++i)
        printf("%s%lu", i > 0 ? "," : "", (unsigned long)table[i].nodeid);
    printf(" names=");
    for (i = 0; i < count; ++i)
        printf("%s%s", i > 0 ? "," : "", table[i].name);
    printf("\n");
    free(table);

    if (rc == CMM_EAGAIN || self_rc == CMM_EAGAIN) {
        fprintf(stderr, "cmm_check: node %lu: the view may be stale (no news from the master)\n",
                (unsigned long)me);
        status = 3;
    }
    if (cmm_member_isoutofcluster(&self)) {
        fprintf(stderr, "cmm_check: node %lu is out of the cluster\n", (unsigned long)me);
        status = 3;
    }
    cmm_disconnect();
    return status;
}
