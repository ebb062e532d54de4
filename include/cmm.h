/* SPDX-License-Identifier: MIT */
/*
 * cmm.h - Cluster Membership Manager API, source-compatible with Sun Netra HA.
 *
 * The API of the Sun Netra High Availability Suite Foundation Services
 * (library libcgha_cmm, pkg-config cgha_cmm). Plain C (C89 and later) and
 * C++.
 *
 * Names, prototypes and numeric values follow Sun's documentation and, where
 * Sun printed no value, Sun's own 2008 re-implementation of the same API, so
 * that Netra programs recompile unchanged. Constants never change meaning once
 * released and numeric values are never reused.
 *
 * Model
 * -----
 * Each gsd is one CMM node; its node id is gsd's node number
 * (gsd --node-number) and its node table, domain id and master eligibility
 * come from gsd's configuration. Every node is in one of four states:
 *
 *   master       the node that owns the authoritative view of the cluster;
 *   vice-master  the hot standby: it takes the master role when the master
 *                leaves, fails, releases the role or is disqualified;
 *   in           a member without a role;
 *   out          configured but not participating (CMM_OUT_OF_CLUSTER): never
 *                joined, left, failed, or removed itself.
 *
 * Only master-eligible nodes (CMM_ELIGIBLE_MEMBER) that are qualified (not
 * CMM_FLAG_DISQUALIFIED) and synchronized (not CMM_FLAG_SYNCHRO_NEEDED) can be
 * elected to a role, with one exception for the master role: the last master
 * (no other node has been master since it was) is elected even when
 * synchro-needed, since it holds the newest copy of the data. Eligibility
 * comes from gsd's configuration and may be changed at run time by the node
 * itself (cmm_node_eligible, cmm_node_ineligible).
 *
 * Elections (gsd's rule; Sun documents no algorithm)
 * --------------------------------------------------
 * An election happens only when a role is vacant; a running master or
 * vice-master is never pre-empted by a node that joins later, whatever its
 * node id, because a role change costs every application a switchover.
 *   - When the master role falls vacant, the vice-master takes it, if it can
 *     take over (not synchro-needed).
 *   - Otherwise, and for a vacant vice-master role, the candidate with the
 *     lowest node id wins.
 * A cluster whose nodes start together therefore has the lowest-id candidate
 * as master and the next one as vice-master. A running master or vice-master
 * that gets CMM_FLAG_SYNCHRO_NEEDED keeps its role (Sun): on the master the
 * flag means it holds the only up-to-date copy of the data; a synchro-needed
 * vice-master cannot take over until CMM_SYNCHRO_READY. When the master role
 * falls vacant meanwhile, another candidate takes it if there is one (the
 * vice-master keeps its role); otherwise the cluster has a vice-master and no
 * master until the vice-master is synchronized by cmm_member_seizequalif or
 * the last master returns.
 *
 * Notifications
 * -------------
 * A process registers one callback (cmm_cmc_register), polls the descriptor
 * from cmm_notify_getfd, and calls cmm_notify_dispatch when it is readable;
 * callbacks run only there, in the calling thread, in the order gsd generated
 * the changes. One cluster event may produce several notifications, always
 * role losses first, then MEMBER_LEFT, then role gains:
 *
 *   first eligible node up            MASTER_ELECTED(A)
 *   eligible node joins, vice vacant  VICEMASTER_ELECTED(B)   (no MEMBER_JOINED)
 *   other node joins                  MEMBER_JOINED(C)
 *   node without role leaves/fails    MEMBER_LEFT(C)
 *   vice-master leaves/fails/removed  VICEMASTER_DEMOTED(B), MEMBER_LEFT(B),
 *                                     then VICEMASTER_ELECTED of a candidate
 *   master leaves/fails/removed       MASTER_DEMOTED(A), MEMBER_LEFT(A),
 *                                     MASTER_ELECTED(B), then
 *                                     VICEMASTER_ELECTED of a candidate
 *   switchover (release on A)         MASTER_DEMOTED(A), MASTER_ELECTED(B),
 *                                     VICEMASTER_ELECTED(A or a lower-id
 *                                     candidate)
 *   master disqualified               MASTER_DEMOTED(A), MASTER_ELECTED(B),
 *                                     then VICEMASTER_ELECTED of a candidate
 *   vice-master disqualified          VICEMASTER_DEMOTED(B), then
 *                                     VICEMASTER_ELECTED of a candidate
 *   node requalified, vice vacant     VICEMASTER_ELECTED(B)
 *   cmm_node_eligible on C            NODE_ELIGIBLE(C), then VICEMASTER_ELECTED(C)
 *                                     (or MASTER_ELECTED(C)) if a role is vacant
 *   cmm_node_ineligible on B          its role loss, NODE_INELIGIBLE(B), then
 *                                     the elections it causes
 *   view stale / split brain / valid  STALE_CLUSTER(0) / INVALID_CLUSTER(0) /
 *                                     VALID_CLUSTER(0)
 *
 * MASTER_ELECTED of the vice-master also ends its vice-master role: no
 * VICEMASTER_DEMOTED is sent for it.
 *
 * Cluster-modifying calls
 * -----------------------
 * cmm_mastership_release, cmm_membership_remove, cmm_member_setqualif,
 * cmm_member_seizequalif, cmm_node_eligible, cmm_node_ineligible and
 * cmm_config_reload. None authenticates the caller. Each is synchronous in
 * this implementation: on CMM_OK gsd has applied the change, and the
 * notifications it causes are queued for every registered process, the
 * caller's included. (Sun's are asynchronous; code that waits for the
 * notification works unchanged.)
 *
 * Common return codes
 * -------------------
 * The first call opens the connection to the local gsd implicitly (endpoint:
 * environment variable HA_GS_SOCKET, as for libha_gs). Unless a function says
 * otherwise, every call that talks to gsd may also return:
 *   CMM_ECONN      no gsd serves the endpoint (the next call tries again);
 *   CMM_ETIMEDOUT  gsd did not answer within the process's timeout
 *                  (cmm_connect; default CMM_DEFAULT_TIMEOUT_SEC). Calls of
 *                  one process are serialized, first come first served: a
 *                  call first waits at most one timeout for the calls queued
 *                  before it, so it returns within twice the timeout;
 *   CMM_EBUSY      gsd is temporarily out of resources; retry after a delay
 *                  of the application's choosing;
 *   CMM_ENOTSUP    unexpected service error (e.g. a gsd speaking another
 *                  protocol version).
 * Information calls return CMM_EAGAIN, with the data filled in, while the
 * local node's view may be stale (no news from the master for more than
 * 10 seconds, or a split brain).
 *
 * Thread safety: every function may be called from any thread (Sun: MT-Safe).
 * Calls that need the library's lock get it in the order they asked for it,
 * so no thread is starved by others calling back to back: a call waits at
 * most for the calls of other threads queued before it.
 * A call interrupted by a caught signal completes normally.
 *
 * Link with -lcgha_cmm (pkg-config cgha_cmm). Sun's -lrt is harmless. The
 * library's symbols carry Sun's version node, SUNW_CGHA_1.1.
 */
#ifndef CMM_H
#define CMM_H

#include <stdint.h> /* uint32_t */
#include <time.h>
/* In strict ISO C modes (-std=c89, -std=c99) <time.h> leaves struct timespec
 * incomplete unless a POSIX feature macro is defined; POSIX requires <sched.h>
 * to define it, so cmm_connect is callable from such programs too. */
#include <sched.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define CMM_EXPORT __attribute__((visibility("default")))
#else
#define CMM_EXPORT
#endif

/****************************************************************************/
/*  Scalar types and sizes                                                  */
/****************************************************************************/

#define CMM_MAX_NAME_SIZE 256    /* node name, NUL included */
#define CMM_MAX_ADDR_SIZE 64     /* node address (text), NUL included */
#define CMM_MAX_SWLOADID_SIZE 32 /* software load id, NUL included */

/* Largest member table cmm_member_getall accepts. Extension: Sun documents
 * the limit without naming it. gsd also refuses node tables with more nodes. */
#define CMM_MAX_MEMBER_TABLE_SIZE 1024

/* Timeout of every call until cmm_connect sets another. Extension. */
#define CMM_DEFAULT_TIMEOUT_SEC 5

typedef uint32_t cmm_nodeid_t;   /* gsd node number */
typedef uint32_t cmm_incarn_t;   /* incarnation number of a node */
typedef uint32_t cmm_domainid_t; /* cluster (domain) id */
typedef char cmm_membername_t[CMM_MAX_NAME_SIZE];
typedef char cmm_memberaddr_t[CMM_MAX_ADDR_SIZE];
typedef char cmm_swload_t[CMM_MAX_SWLOADID_SIZE];

/* Solaris has timespec_t natively; Linux does not. */
typedef struct timespec timespec_t;

/* Written to the out-parameter of cmm_node_getid on failure. Equal to
 * (cmm_nodeid_t)-1, spelled without a cast so that C++ code built with
 * -Wold-style-cast can use it. */
#define CMM_INVALID_NODE_ID 0xFFFFFFFFU
/* "No node" and "no domain": never a valid node id or domain id. */
#define CMM_NO_NODE 0
#define CMM_NO_DOMAIN 0

/****************************************************************************/
/*  Return codes                                                            */
/****************************************************************************/

typedef enum cmm_error_t {
    CMM_OK = 0,           /* success */
    CMM_EBADF = -100,     /* notification descriptor broken: unregister, register again */
    CMM_EBUSY = -99,      /* gsd out of resources, or a callback of this process is running */
    CMM_ECANCELED = -98,  /* no node can take the master role; nothing changed */
    CMM_EEXIST = -97,     /* this process already has a callback registered */
    CMM_EINVAL = -96,     /* invalid argument */
    CMM_ENOENT = -95,     /* no registration, or gsd's registration limit reached */
    CMM_ENOMSG = -94,     /* reserved for Sun compatibility; never returned */
    CMM_ENOTSUP = -93,    /* unexpected service error */
    CMM_EPERM = -92,      /* caller's node may not do this (not master, out of cluster...) */
    CMM_ERANGE = -91,     /* caller's table too small */
    CMM_ESRCH = -90,      /* no such node in the cluster / node table, or no vice-master */
    CMM_ENOCLUSTER = -89, /* no master exists, or the node is in no cluster */
    CMM_ECONN = -88,      /* no gsd reachable */
    CMM_ETIMEDOUT = -87,  /* gsd did not answer in time */
    CMM_EAGAIN = -86,     /* data returned, but the local view may be stale */
    CMM_ENOMEM = -85,     /* out of memory in the library */
    CMM_EOTHER = -84      /* internal error of the library */
} cmm_error_t;

/****************************************************************************/
/*  Node descriptor                                                         */
/****************************************************************************/

/* Bits of cmm_member_t.sflag. Decode them with the cmm_member_is*()
 * functions. Role: at most one of the first three bits; none means "in the
 * cluster without a role". */
#define CMM_MASTER 0x0001
#define CMM_VICEMASTER 0x0002
#define CMM_OUT_OF_CLUSTER 0x0004
#define CMM_ROLE_MASK 0x0007
/* Administrative attributes, from gsd's node table. */
#define CMM_FROZEN_MEMBER 0x0100   /* carried for compatibility; no effect in gsd */
#define CMM_EXCLUDED_MEMBER 0x0200 /* the node never enters the cluster */
#define CMM_ELIGIBLE_MEMBER 0x0400 /* the node may hold the master or vice-master role */
/* Qualification flags. Meaningful only for eligible nodes in the cluster. */
#define CMM_FLAG_DISQUALIFIED 0x0800   /* may not be elected to a role */
#define CMM_FLAG_SYNCHRO_NEEDED 0x1000 /* data not synchronized: may not be elected */

typedef struct cmm_member_t {
    cmm_nodeid_t nodeid;             /* node id (gsd node number) */
    cmm_membername_t name;           /* node name from the node table */
    cmm_memberaddr_t addr;           /* node address from the node table, text form */
    cmm_domainid_t domainid;         /* cluster (domain) id */
    uint32_t sflag;                  /* role | attributes | qualification flags */
    cmm_incarn_t incarnation_number; /* grows by one each time the node joins; 0: never */
    cmm_swload_t software_load_id;   /* software load id from the node table, or "" */
} cmm_member_t;

/****************************************************************************/
/*  Qualification, filters, notifications                                   */
/****************************************************************************/

/* new_qualif of cmm_member_setqualif. Far below zero so that they cannot be
 * mistaken for sflag bits. */
typedef enum cmm_qualif_t {
    CMM_QUALIFIED_MEMBER = -150,    /* clears CMM_FLAG_DISQUALIFIED */
    CMM_SYNCHRO_READY = -149,       /* clears CMM_FLAG_SYNCHRO_NEEDED (replication service) */
    CMM_DISQUALIFIED_MEMBER = -148, /* sets CMM_FLAG_DISQUALIFIED */
    CMM_SYNCHRO_NEEDED = -147       /* sets CMM_FLAG_SYNCHRO_NEEDED (replication service) */
} cmm_qualif_t;

/* action of cmm_cmc_filter. */
typedef enum cmm_cmcfilter_t {
    CMM_CMC_NOTIFY_ADD = 20, /* add the listed kinds to the filter */
    CMM_CMC_NOTIFY_REM = 21, /* remove the listed kinds from the filter */
    CMM_CMC_NOTIFY_SET = 22, /* the filter becomes exactly the listed kinds */
    CMM_CMC_NOTIFY_ALL = 23, /* accept every kind (list ignored) */
    CMM_CMC_NOTIFY_NONE = 24 /* accept no kind (list ignored); still registered */
} cmm_cmcfilter_t;

/* Notification kinds. nodeid is 0 for the three cluster-wide kinds. */
typedef enum cmm_cmchanges_t {
    CMM_MASTER_ELECTED = 250,     /* nodeid became master */
    CMM_MASTER_DEMOTED = 251,     /* nodeid lost the master role */
    CMM_VICEMASTER_ELECTED = 252, /* nodeid became vice-master */
    CMM_VICEMASTER_DEMOTED = 253, /* nodeid lost the vice-master role, other than by
                                     becoming master */
    CMM_MEMBER_JOINED = 254,      /* nodeid entered the cluster without a role */
    CMM_MEMBER_LEFT = 255,        /* nodeid left the cluster (its role was dropped before) */
    CMM_STALE_CLUSTER = 256,      /* the local view is stale (no news from the master) */
    CMM_INVALID_CLUSTER = 257,    /* the cluster is invalid (split brain) */
    CMM_VALID_CLUSTER = 258,      /* the cluster is valid again */
    CMM_NODE_ELIGIBLE = 259,      /* nodeid became master-eligible (cmm_node_eligible) */
    CMM_NODE_INELIGIBLE = 260     /* nodeid withdrew its eligibility (cmm_node_ineligible) */
} cmm_cmchanges_t;

typedef struct {
    cmm_cmchanges_t cmchange; /* kind */
    cmm_nodeid_t nodeid;      /* node concerned; 0 for cluster-wide kinds */
} cmm_cmc_notification_t;

/* The callback. change_notification is valid only during the call;
 * client_data is the pointer given to cmm_cmc_register. */
typedef void (*cmm_notify_t)(const cmm_cmc_notification_t *change_notification, void *client_data);

/****************************************************************************/
/*  Connection                                                              */
/****************************************************************************/

/*
 * cmm_connect - open (or test) the connection to gsd and set the timeout.
 *
 * Optional: any call connects implicitly. Synchronous. Sets the timeout that
 * bounds every later call of this process (per process; the default is
 * CMM_DEFAULT_TIMEOUT_SEC seconds); the new timeout does not apply to this
 * call itself, which uses the previous one. Works on any node, even one out
 * of the cluster or excluded from it. A timeout shorter than gsd's answer time
 * makes later calls fail with CMM_ETIMEDOUT.
 *
 * timeout  tv_sec >= 0 and 0 <= tv_nsec < 1000000000. Zero ({0, 0}) keeps
 *          the timeout in force and only connects (or tests the
 *          connection), as Sun's own re-implementation and its tools use
 *          it; Sun's man page asks for a positive value. A timeout above
 *          ten years counts as ten years ("forever").
 *
 * Returns CMM_OK, or
 *   CMM_EINVAL     timeout negative or with tv_nsec out of range (the
 *                  timeout in force is unchanged);
 *   CMM_ECONN      no gsd serves the endpoint (the timeout is still set);
 *   CMM_ETIMEDOUT, CMM_ENOTSUP.
 * Never CMM_ENOCLUSTER.
 */
CMM_EXPORT cmm_error_t cmm_connect(const timespec_t timeout);

/*
 * cmm_disconnect - close this process's connection to gsd.
 *
 * Synchronous. The registration, its filter and its descriptor are dropped
 * (the descriptor number must no longer be polled); a cmm_notify_dispatch
 * running in another thread, or the one from whose callback this is called,
 * returns CMM_ENOENT once its current callback returns. The timeout set by
 * cmm_connect is kept. The next call reconnects silently; the callback is
 * not restored: register again.
 *
 * Returns CMM_OK (also when never connected, or when no gsd runs: there is
 * nothing left to close), CMM_ETIMEDOUT, CMM_ENOTSUP.
 */
CMM_EXPORT cmm_error_t cmm_disconnect(void);

/****************************************************************************/
/*  Identity and information                                                */
/****************************************************************************/

/*
 * cmm_node_getid - the local node id (gsd --node-number).
 *
 * Synchronous. Works without a master and on an out-of-cluster node.
 * On failure *me is set to CMM_INVALID_NODE_ID (when me is not NULL).
 *
 * Returns CMM_OK, or CMM_EINVAL (me NULL), CMM_ECONN, CMM_ETIMEDOUT,
 * CMM_EBUSY, CMM_ENOTSUP. Never CMM_ENOCLUSTER.
 */
CMM_EXPORT cmm_error_t cmm_node_getid(cmm_nodeid_t *const me);

/*
 * cmm_member_getinfo - describe a node of the node table.
 *
 * Synchronous. Fills *member for a master, vice-master or role-less member,
 * and for a configured node that is out of the cluster (never joined, left,
 * failed or removed itself), whose sflag then has CMM_OUT_OF_CLUSTER, as
 * Sun's implementation does: a callback can still name the node of a
 * MEMBER_LEFT or MASTER_DEMOTED notification.
 *
 * Returns CMM_OK, or
 *   CMM_EINVAL      member NULL;
 *   CMM_ESRCH       nodeid is not in the node table;
 *   CMM_ENOCLUSTER  the local node is configured for no cluster;
 *   CMM_EAGAIN      *member is filled but may be stale;
 *   and the common codes.
 */
CMM_EXPORT cmm_error_t cmm_member_getinfo(cmm_nodeid_t const nodeid, cmm_member_t *const member);

/*
 * cmm_potential_getinfo - describe any node of the node table.
 *
 * Synchronous. The same as cmm_member_getinfo: any node of the node table;
 * nodes out of the cluster have CMM_OUT_OF_CLUSTER in sflag (their
 * qualification flags are the last known ones and carry no meaning).
 *
 * Returns CMM_OK, or CMM_EINVAL (member NULL), CMM_ESRCH (nodeid not in the
 * node table), CMM_ENOCLUSTER (local node configured for no cluster),
 * CMM_EAGAIN (filled, may be stale), and the common codes.
 */
CMM_EXPORT cmm_error_t cmm_potential_getinfo(cmm_nodeid_t const nodeid, cmm_member_t *const member);

/*
 * cmm_master_getinfo - describe the current master.
 *
 * Synchronous.
 *
 * Returns CMM_OK, or
 *   CMM_EINVAL      member NULL;
 *   CMM_ENOCLUSTER  no master exists (no eligible qualified node is in the
 *                   cluster, or the cluster is invalid), or the local node is
 *                   configured for no cluster;
 *   CMM_EAGAIN      filled, may be stale;
 *   and the common codes.
 */
CMM_EXPORT cmm_error_t cmm_master_getinfo(cmm_member_t *const member);

/*
 * cmm_vicemaster_getinfo - describe the current vice-master.
 *
 * Synchronous.
 *
 * Returns CMM_OK, or
 *   CMM_EINVAL      member NULL;
 *   CMM_ENOCLUSTER  no master exists, or the local node is configured for no
 *                   cluster;
 *   CMM_ESRCH       a master exists but no vice-master;
 *   CMM_EAGAIN      filled, may be stale;
 *   and the common codes.
 */
CMM_EXPORT cmm_error_t cmm_vicemaster_getinfo(cmm_member_t *const member);

/*
 * cmm_member_getcount - number of nodes in the cluster.
 *
 * The master, the vice-master and the role-less members, the calling node
 * included when it is in. Synchronous. A cluster without a master still counts its members.
 *
 * Returns CMM_OK, or CMM_EINVAL (member_count NULL), CMM_ENOCLUSTER (local
 * node configured for no cluster), CMM_EAGAIN (counted, may be stale), and the
 * common codes.
 */
CMM_EXPORT cmm_error_t cmm_member_getcount(uint32_t *const member_count);

/*
 * cmm_member_getall - describe every node in the cluster.
 *
 * Synchronous. Fills member_table[0 .. *member_count - 1] in increasing node
 * id order, one cmm_member_getinfo-like entry per node in the cluster. The
 * caller owns the memory. Typical use: cmm_member_getcount, allocate,
 * cmm_member_getall (and retry on CMM_ERANGE: a node may have joined
 * between the two calls).
 *
 * table_size    number of entries in member_table; ignored when member_table
 *               is NULL. A cluster never has more than
 *               CMM_MAX_MEMBER_TABLE_SIZE nodes, so a larger table is
 *               accepted and its tail left untouched.
 * member_table  the table, or NULL to behave like cmm_member_getcount.
 * member_count  out: the number of nodes in the cluster. May be NULL when
 *               member_table is not (a caller that sized the table with
 *               cmm_member_getcount); the count is then not reported.
 *
 * Returns CMM_OK, or
 *   CMM_EINVAL      member_table and member_count both NULL;
 *   CMM_ERANGE      table_size is smaller than the number of nodes: the table
 *                   is left untouched and *member_count (if given) holds the
 *                   number needed;
 *   CMM_ENOCLUSTER  local node configured for no cluster;
 *   CMM_EAGAIN      filled, may be stale;
 *   and the common codes.
 */
CMM_EXPORT cmm_error_t cmm_member_getall(uint32_t const table_size,
                                         cmm_member_t *const member_table,
                                         uint32_t *const member_count);

/*
 * cmm_member_isdesynchronized - decode the sflag of a cmm_member_t.
 *
 * Pure functions of *member, no gsd access, never fail. Each returns 1
 * when its bit is set (for isqualified: when CMM_FLAG_DISQUALIFIED is
 * clear), else 0; a NULL member gives 0:
 *
 *   cmm_member_isdesynchronized   CMM_FLAG_SYNCHRO_NEEDED
 *   cmm_member_isdisqualified     CMM_FLAG_DISQUALIFIED
 *   cmm_member_isqualified        CMM_FLAG_DISQUALIFIED clear
 *   cmm_member_iseligible         CMM_ELIGIBLE_MEMBER
 *   cmm_member_isexcluded         CMM_EXCLUDED_MEMBER
 *   cmm_member_isfrozen           CMM_FROZEN_MEMBER
 *   cmm_member_ismaster           CMM_MASTER
 *   cmm_member_isvicemaster       CMM_VICEMASTER
 *   cmm_member_isoutofcluster     CMM_OUT_OF_CLUSTER
 *
 * Qualification answers carry no meaning for a node out of the cluster or not
 * eligible: check those first.
 */
CMM_EXPORT int cmm_member_isdesynchronized(cmm_member_t const *member); /* SYNCHRO_NEEDED */
CMM_EXPORT int cmm_member_isdisqualified(cmm_member_t const *member);   /* DISQUALIFIED */
CMM_EXPORT int cmm_member_isqualified(cmm_member_t const *member);      /* not DISQUALIFIED */
CMM_EXPORT int cmm_member_iseligible(cmm_member_t const *member);       /* ELIGIBLE_MEMBER */
CMM_EXPORT int cmm_member_isexcluded(cmm_member_t const *member);       /* EXCLUDED_MEMBER */
CMM_EXPORT int cmm_member_isfrozen(cmm_member_t const *member);         /* FROZEN_MEMBER */
CMM_EXPORT int cmm_member_ismaster(cmm_member_t const *member);         /* MASTER */
CMM_EXPORT int cmm_member_isvicemaster(cmm_member_t const *member);     /* VICEMASTER */
CMM_EXPORT int cmm_member_isoutofcluster(cmm_member_t const *member);   /* OUT_OF_CLUSTER */

/* Deprecated spellings kept for old sources, defined as in Sun's own
 * header; each takes a cmm_member_t lvalue (not a pointer).
 * CMM_IS_SEMI_QUALIFIED is cmm_member_isdesynchronized. */
#define CMM_IS_FROZEN(member) cmm_member_isfrozen(&(member))
#define CMM_IS_EXCLUDED(member) cmm_member_isexcluded(&(member))
#define CMM_IS_ELIGIBLE(member) cmm_member_iseligible(&(member))
#define CMM_IS_MASTER(member) cmm_member_ismaster(&(member))
#define CMM_IS_VICEMASTER(member) cmm_member_isvicemaster(&(member))
#define CMM_IS_QUALIFIED(member) cmm_member_isqualified(&(member))
#define CMM_IS_DISQUALIFIED(member) cmm_member_isdisqualified(&(member))
#define CMM_IS_SEMI_QUALIFIED(member) cmm_member_isdesynchronized(&(member))
#define CMM_IS_OUT_OF_CLUSTER(member) cmm_member_isoutofcluster(&(member))

/****************************************************************************/
/*  Cluster-modifying calls (see "Cluster-modifying calls" above)           */
/****************************************************************************/

/*
 * cmm_mastership_release - switchover: hand the master role to the vice-master.
 *
 * Call on the master. On CMM_OK the vice-master is master and the caller is
 * a role-less member or, if it is the best candidate, the new vice-master.
 * A synchro-needed vice-master cannot take over: the lowest-id other
 * candidate takes the role instead, and the vice-master keeps its own.
 *
 * Returns CMM_OK, or
 *   CMM_EPERM       the local node is not the master (or is out of the
 *                   cluster);
 *   CMM_ENOCLUSTER  no master exists, or the local node is configured for no
 *                   cluster;
 *   CMM_ECANCELED   no node can take over (no vice-master, or a
 *                   synchro-needed one and no other candidate); nothing
 *                   changed;
 *   and the common codes.
 */
CMM_EXPORT cmm_error_t cmm_mastership_release(void);

/*
 * cmm_membership_remove - take the local node out of the cluster.
 *
 * The node stays in the node table with role CMM_OUT_OF_CLUSTER; the other
 * nodes see it leave. Afterwards information calls keep working on the node,
 * cmm_mastership_release, cmm_member_setqualif, cmm_member_seizequalif and
 * cmm_config_reload return CMM_EPERM, and cmm_membership_remove returns
 * CMM_ENOCLUSTER. The node rejoins only when its gsd restarts. Called on the
 * master it causes a failover to the vice-master.
 *
 * Returns CMM_OK, or
 *   CMM_ECANCELED   called on the master and no node can take over (as for
 *                   cmm_mastership_release); nothing changed;
 *   CMM_ENOCLUSTER  the local node is not in the cluster (not yet, or no
 *                   more), or is configured for no cluster;
 *   and the common codes.
 */
CMM_EXPORT cmm_error_t cmm_membership_remove(void);

/*
 * cmm_member_setqualif - change the qualification of a master-eligible node.
 *
 * Call on the master. Disqualifying the master is a failover to the
 * vice-master (MASTER_DEMOTED, MASTER_ELECTED); with no vice-master that can
 * take over, the cluster is left without a master until a node seizes
 * qualification (cmm_member_seizequalif), which the disqualified master
 * itself may do. Disqualifying the vice-master demotes it. Marking a master
 * or vice-master synchro-needed keeps its role and sends nothing: the
 * vice-master merely cannot take over until CMM_SYNCHRO_READY. Requalifying a
 * node lets it be elected to a vacant role at once. A request for the
 * qualification the target already has succeeds without effect, even when the
 * caller has lost the master role meanwhile, so two concurrent
 * disqualifications of the master both return CMM_OK. An out-of-cluster target
 * is accepted; its flags take effect when it joins. CMM_SYNCHRO_READY and
 * CMM_SYNCHRO_NEEDED are meant for a data-replication service.
 *
 * Checks, in this order:
 *   CMM_ENOCLUSTER  the local node is configured for no cluster;
 *   CMM_EPERM       the local node is out of the cluster;
 *   CMM_EINVAL      new_qualif is not a cmm_qualif_t value;
 *   CMM_ESRCH       nodeid is not in the node table;
 *   CMM_EINVAL      nodeid is in the cluster and not master-eligible;
 *   CMM_OK          nothing to change (see above);
 *   CMM_ENOCLUSTER  no master exists;
 *   CMM_EPERM       the local node is not the master;
 * then CMM_OK, and the common codes.
 */
CMM_EXPORT cmm_error_t cmm_member_setqualif(cmm_nodeid_t const nodeid,
                                            cmm_qualif_t const new_qualif);

/*
 * cmm_member_seizequalif - requalify the local node when no master exists.
 *
 * The escape hatch when every eligible member is disqualified or
 * desynchronized. Clears the local node's CMM_FLAG_DISQUALIFIED and, unless
 * the node was master the last time it held a role, its
 * CMM_FLAG_SYNCHRO_NEEDED; the node is then elected master (MASTER_ELECTED).
 * A synchro-needed node that was master last keeps the flag: it is elected
 * if it is the last master (no other node has been master since, so its copy
 * is the newest; on the master the flag then means it holds the only
 * up-to-date copy), and not elected otherwise (Sun: its copy is stale).
 * If it cannot be elected its flags fall back to their previous values.
 *
 * Whatever calls were made before, a cluster with nodes in it can get a
 * master back: by this call on some eligible member (after
 * cmm_node_eligible if none is eligible), or, when only the last master
 * holds the newest copy and it is out of the cluster, by its return.
 *
 * Returns CMM_OK (the local node is master), or
 *   CMM_ENOCLUSTER  the local node is configured for no cluster;
 *   CMM_EPERM       the local node is out of the cluster or not
 *                   master-eligible, a master exists, or some member can
 *                   already be elected;
 *   CMM_ECANCELED   the node still cannot be elected (it is synchro-needed,
 *                   was master last time it held a role, and another node
 *                   has been master since); nothing changed;
 *   and the common codes.
 */
CMM_EXPORT cmm_error_t cmm_member_seizequalif(void);

/*
 * cmm_node_eligible - make the local node master-eligible.
 * cmm_node_ineligible - withdraw the local node's master eligibility.
 *
 * Not in Sun's Netra man pages: from Sun's own implementation of this API,
 * whose node manager calls them. Synchronous. Sets or clears the local node's
 * CMM_ELIGIBLE_MEMBER at run time (the node table gives the value a node
 * starts with; cmm_config_reload compares tables with the configured value,
 * not this one). A node that becomes eligible is elected at once to a vacant
 * role (NODE_ELIGIBLE, then VICEMASTER_ELECTED or MASTER_ELECTED); a running
 * master or vice-master is never pre-empted. A vice-master that withdraws is
 * demoted (VICEMASTER_DEMOTED, NODE_INELIGIBLE, then the election of the next
 * candidate); the master that withdraws hands its role over like
 * cmm_mastership_release (MASTER_DEMOTED, NODE_INELIGIBLE, MASTER_ELECTED),
 * and is refused when no node can take over, so that this call never leaves
 * the cluster without a master. Asking for the eligibility the node already
 * has succeeds without effect. Neither call authenticates the caller.
 *
 * Returns CMM_OK, or
 *   CMM_ENOCLUSTER  the local node is configured for no cluster;
 *   CMM_EPERM       the local node is out of the cluster;
 *   CMM_ECANCELED   cmm_node_ineligible on the master and no node can take
 *                   over; nothing changed;
 *   and the common codes.
 */
CMM_EXPORT cmm_error_t cmm_node_eligible(void);
CMM_EXPORT cmm_error_t cmm_node_ineligible(void);

/*
 * cmm_config_reload - make gsd re-read its node table.
 *
 * Call on the master. Supported changes: adding nodes (they stay out of the
 * cluster until their gsd joins, then follow the usual join notifications),
 * removing nodes that are out of the cluster, and changing names, addresses
 * and software load ids. The qualification flags in the table apply to new
 * nodes only; known nodes keep their current ones. The reload itself sends no
 * notification.
 *
 * Returns CMM_OK, or
 *   CMM_ENOCLUSTER  no master exists, or the local node is configured for no
 *                   cluster;
 *   CMM_EPERM       the local node is not the master (or is out of the
 *                   cluster);
 *   CMM_EINVAL      the new table is unusable, and nothing changed: it drops
 *                   a node that is in the cluster, changes the domain id or
 *                   the attributes (eligible, frozen, excluded) of a known
 *                   node, repeats a node id, uses node id CMM_NO_NODE or
 *                   CMM_INVALID_NODE_ID or domain id CMM_NO_DOMAIN, mixes
 *                   domain ids, has a field too long for cmm_member_t, or has
 *                   more than CMM_MAX_MEMBER_TABLE_SIZE nodes;
 *   and the common codes.
 */
CMM_EXPORT cmm_error_t cmm_config_reload(void);

/****************************************************************************/
/*  Notifications                                                           */
/****************************************************************************/

/*
 * cmm_cmc_register - register this process's notification callback.
 *
 * One callback per process: a second registration fails with CMM_EEXIST and
 * keeps the first; to change it, unregister first. Delivery starts with the
 * changes that happen after this call returns, through the filter in force
 * (default: every kind; a filter set before registering applies, so no
 * unwanted notification slips through). Then get the descriptor
 * (cmm_notify_getfd) and call cmm_notify_dispatch when it is readable. A child
 * created by fork() has no registration and may register its own.
 *
 * callback     required.
 * client_data  passed back unchanged to every call of callback; never
 *              dereferenced by the library.
 *
 * Returns CMM_OK, or
 *   CMM_EINVAL  callback NULL;
 *   CMM_EEXIST  this process already has a registration (also one broken by
 *               a lost connection: unregister it first);
 *   CMM_ENOENT  gsd serves its maximum number of registered clients;
 *   and the common codes.
 */
CMM_EXPORT cmm_error_t cmm_cmc_register(cmm_notify_t const callback, void *client_data);

/*
 * cmm_cmc_unregister - stop delivery to this process.
 *
 * Synchronous. Notifications not yet dispatched are discarded; the
 * descriptor must no longer be polled. The filter is kept for a later
 * registration. Only the registering process can unregister: after fork()
 * the child has nothing to unregister and the parent's registration is
 * unaffected by the child. Also the first step of recovery after
 * cmm_notify_dispatch returned CMM_EBADF (then CMM_OK without talking to gsd).
 *
 * Without a registration (never registered, already unregistered,
 * dropped by cmm_disconnect, or in a child after fork()) there is nothing
 * to stop: CMM_OK, without talking to gsd, so that cleanup code may call it
 * unconditionally.
 *
 * Returns CMM_OK, or
 *   CMM_EBUSY   a callback of this process is running (in any thread, this
 *               one included); that callback is not interrupted: call again
 *               after it returns;
 *   and the common codes.
 */
CMM_EXPORT cmm_error_t cmm_cmc_unregister(void);

/*
 * cmm_cmc_filter - choose which notification kinds are delivered.
 *
 * Synchronous and local to the process (no gsd access, and it never waits
 * for another thread's call). May be called before
 * or after cmm_cmc_register, as often as needed; the filter is applied in
 * cmm_notify_dispatch, so it also affects notifications already queued but
 * not yet dispatched. It survives cmm_cmc_unregister and is reset to "every
 * kind" by cmm_disconnect and in a child after fork(). On error the filter is
 * unchanged.
 *
 * action               CMM_CMC_NOTIFY_ADD / _REM / _SET use the list;
 *                      _ALL / _NONE ignore list and count (not checked).
 *                      _NONE silences delivery but keeps the registration.
 * notifications_list   kinds (CMM_MASTER_ELECTED .. CMM_NODE_INELIGIBLE);
 *                      repeats are allowed. May be NULL when the count is 0.
 * notifications_count  number of entries. Sun's man page asks for a positive
 *                      count; 0 is accepted as an empty list, as Sun's own
 *                      re-implementation does: ADD and REM change nothing,
 *                      SET accepts no kind (like NONE).
 *
 * Returns CMM_OK, or CMM_EINVAL: unknown action; for ADD, REM or SET a NULL
 * list with a non-zero count, or an unknown kind in the list.
 */
CMM_EXPORT cmm_error_t cmm_cmc_filter(cmm_cmcfilter_t const action,
                                      cmm_cmchanges_t const *const notifications_list,
                                      uint32_t const notifications_count);

/*
 * cmm_notify_getfd - the descriptor to poll for notifications.
 *
 * Synchronous. Use it with poll()/select()/epoll next to the application's
 * own descriptors; it is readable whenever cmm_notify_dispatch has work
 * (notifications pending, or the connection to gsd lost), and stays readable
 * until dispatch has done that work. Never read, write or close it. The
 * library has no thread of its own: notifications wait until dispatched. The
 * descriptor is not valid in a child created by fork().
 *
 * May be called before cmm_cmc_register, as Sun's implementation allows: it
 * then gives the descriptor the registration will use, which stays
 * unreadable until a registration has something to dispatch (gsd sends
 * notifications only to registered processes). The descriptor lives until
 * cmm_disconnect.
 *
 * Returns CMM_OK, or
 *   CMM_EINVAL  fd NULL;
 *   CMM_EBADF   the registration is broken (connection to gsd lost);
 *   CMM_ENOMEM  no descriptor could be created.
 */
CMM_EXPORT cmm_error_t cmm_notify_getfd(int *const fd);

/*
 * cmm_notify_dispatch - deliver every pending notification.
 *
 * Does not wait for gsd; it waits only for the calls of other threads queued
 * before it for the library's lock (first come, first served, so threads
 * calling back to back cannot starve it), and for another thread's
 * cmm_cmc_unregister in progress (no callback may start then; bounded by its
 * timeout). Calls the callback in the calling
 * thread, once per pending
 * notification that the filter accepts, in the order gsd generated them,
 * then returns; nothing pending is not an error. Information calls made
 * from the callback see the cluster as it is when they run, not as it was
 * when the notification was generated. The callback may call any function
 * except cmm_cmc_unregister and cmm_notify_dispatch (both CMM_EBUSY there);
 * cmm_cmc_filter from the callback affects the rest of the drain. Dispatches
 * in several threads are serialized, so order is kept.
 *
 * Returns CMM_OK, or
 *   CMM_ENOENT  no registration (or cmm_disconnect was called meanwhile);
 *   CMM_EBUSY   called from this process's callback;
 *   CMM_EBADF   the connection to gsd was lost (gsd exited or restarted):
 *               the notifications received before are delivered first; then
 *               recover with cmm_cmc_unregister, cmm_cmc_register,
 *               cmm_cmc_filter, cmm_notify_getfd.
 */
CMM_EXPORT cmm_error_t cmm_notify_dispatch(void);

/*
 * cmm_strerror - a static English description of a return code.
 *
 * Never NULL; unknown codes give "unknown CMM error code". The string must
 * not be modified (the type is char * for compatibility with Sun's header).
 */
CMM_EXPORT char *cmm_strerror(cmm_error_t errnum);

#ifdef __cplusplus
}
#endif

#endif /* CMM_H */
