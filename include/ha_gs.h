/* SPDX-License-Identifier: MIT */
/*
 * ha_gs.h - Group Services API (GSAPI), source-compatible with IBM RSCT.
 *
 * This header is the principal public contract of libha_gs (not thread-safe)
 * and libha_gs_r (thread-safe). Constants never change meaning once released
 * and numeric values are never reused. Plain C (C89 and later) and C++.
 *
 * Model
 * -----
 * A process calls ha_gs_init() once to connect to the local broker, gsd, and
 * gets a descriptor to poll. It then joins named groups as a *provider*
 * (ha_gs_join) or watches them as a *subscriber* (ha_gs_subscribe). Every
 * change to a group (membership or state value) runs as a *protocol* in gsd:
 * one-phase protocols are approved at once; n-phase protocols ask every
 * provider to vote (approve / continue / reject) in each phase. Results come
 * back as callbacks, which run only inside ha_gs_dispatch(), in the caller's
 * thread.
 *
 * Synchronous and asynchronous errors
 * -----------------------------------
 * Every request call makes one round trip to gsd, which validates it against
 * the group's current state. HA_GS_OK means "accepted"; the outcome of the
 * protocol arrives later through the approved or rejected callback. Errors
 * that can only be known later (a subscription to a group that does not
 * exist) arrive through the delayed-error callback given to ha_gs_init().
 * Any request but ha_gs_vote may also return HA_GS_NO_MEMORY when the
 * process exceeds gsd's request rate (gsd --max-request-rate, default
 * HA_GS_MAX_REQUEST_RATE): the request was not carried out; retry later.
 *
 * Order of checks: every call but ha_gs_init and ha_gs_strerror first
 * checks the session: HA_GS_NO_INIT before ha_gs_init (or after
 * ha_gs_quit), HA_GS_NOT_OK once the connection is lost; only then its
 * arguments (HA_GS_BAD_PARAMETER and the like), then gsd's checks.
 *
 * Tokens: a call given a token that is not a live token of this process,
 * or a token of the wrong kind (a subscriber token where a provider token
 * is expected, or the reverse), returns HA_GS_BAD_MEMBER_TOKEN, as IBM
 * documents for "not a valid provider or subscriber".
 * HA_GS_BAD_CLIENT_TOKEN is reserved and never returned.
 *
 * Connection loss
 * ---------------
 * When the connection to gsd is lost, every subscription receives
 * HA_GS_SUBSCRIPTION_GS_HAS_DIED, every later call returns HA_GS_NOT_OK,
 * ha_gs_dispatch() returns HA_GS_NOT_OK, and the process must call
 * ha_gs_init() again. No call blocks forever on a dead gsd: a request whose
 * reply does not arrive within HA_GS_REQUEST_TIMEOUT_MS declares the
 * connection lost.
 *
 * Slow consumers
 * --------------
 * gsd never waits for a client. Notifications a process has not read yet
 * wait, up to 4096 messages in the library's socket (HA_GS_RECEIVE_QUEUE_LIMIT)
 * and up to gsd --send-queue-limit messages or --send-queue-bytes bytes in
 * gsd (defaults HA_GS_MAX_QUEUED_NOTIFICATIONS, HA_GS_MAX_QUEUED_BYTES;
 * counted until the library has read them). A process that lets
 * more pile up (it stops calling ha_gs_dispatch while its groups keep
 * changing) loses its session: every group in which it is a provider runs
 * a failure-leave protocol (HA_GS_FAILURE_LEAVE, reason
 * HA_GS_PROVIDER_FAILED_LEAVE), its subscriptions
 * end, and gsd logs it. A process whose library queue stays full for 3
 * seconds loses its connection as well (ZeroMQ's heartbeats cannot get
 * through meanwhile); gsd ends its session as soon as it has something
 * for it. The process learns it once it reads again: its next
 * ha_gs_dispatch calls deliver the notifications queued before the
 * overflow (none when the connection was closed), then
 * HA_GS_SUBSCRIPTION_GS_HAS_DIED to every subscription, and return
 * HA_GS_NOT_OK, as for a lost connection; a request returns HA_GS_NOT_OK.
 * It may call ha_gs_init again.
 *
 * Environment
 * -----------
 *   HA_GS_SOCKET     ZeroMQ endpoint of gsd, e.g. ipc:///run/ha_gs/gsd.sock.
 *                    Default: ipc:///run/ha_gs/gsd.sock for root,
 *                    ipc://$XDG_RUNTIME_DIR/ha_gs/gsd.sock otherwise, or
 *                    ipc:///tmp/ha_gs-<uid>/gsd.sock when XDG_RUNTIME_DIR is
 *                    unset.
 *   HA_DOMAIN_NAME   when set, the domain this process expects; gsd refuses
 *                    a different one with HA_GS_DOMAIN_NOT_RECOG.
 *   HA_GS_RECEIVE_QUEUE_LIMIT
 *                    messages the library's socket may hold unread (1 to
 *                    1000000; default 4096); see "Slow consumers".
 *
 * Thread safety
 * -------------
 *   libha_gs:   thread-bound. Use all functions from one thread.
 *   libha_gs_r: thread-safe. Any function from any thread; several threads may
 *               block in ha_gs_dispatch(HA_GS_BLOCKING). Notifications of one
 *               group are delivered one at a time and in order; callbacks of
 *               different groups may run at the same time in different
 *               threads. Callbacks may call any function except ha_gs_quit()
 *               and ha_gs_init().
 */
#ifndef HA_GS_H
#define HA_GS_H

#include <netinet/in.h> /* struct in_addr, struct in6_addr */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define HA_GS_EXPORT __attribute__((visibility("default")))
#else
#define HA_GS_EXPORT
#endif

/****************************************************************************/
/*  Version                                                                 */
/****************************************************************************/

#define HA_GS_VERSION_MAJOR 1
#define HA_GS_VERSION_MINOR 0
#define HA_GS_VERSION_PATCH 0

/****************************************************************************/
/*  Limits. Each is enforced with a clear error, never by truncation.       */
/****************************************************************************/

/* Longest group name, in bytes, not counting the terminating NUL.
 * Longer: HA_GS_NAME_TOO_LONG. Names are printable ASCII without spaces
 * (0x21..0x7e); anything else: HA_GS_INVALID_GROUP. "HostMembership" is
 * reserved for the system group of the domain's nodes (ha_gs_subscribe). */
#define HA_GS_MAX_GROUP_NAME_LENGTH 127

/* Longest provider local name (gs_provider_local_name), in bytes.
 * Longer: HA_GS_BAD_PARAMETER. */
#define HA_GS_MAX_LOCAL_NAME_LENGTH 127

/* Largest group state value, in bytes. Larger: HA_GS_BAD_PARAMETER. */
#define HA_GS_MAX_STATE_VALUE_LENGTH 65536

/* Largest provider message, in bytes. Larger: HA_GS_BAD_PARAMETER. */
#define HA_GS_MAX_MESSAGE_LENGTH 65536

/* Longest deactivate flag string (expel request), in bytes.
 * Longer: HA_GS_BAD_PARAMETER. */
#define HA_GS_MAX_DEACTIVATE_FLAG_LENGTH 255

/* Longest deactivate script path given to ha_gs_init, in bytes, not
 * counting the terminating NUL. Longer: HA_GS_BAD_PARAMETER. */
#define HA_GS_MAX_DEACTIVATE_SCRIPT_LENGTH 1023

/* Largest responsiveness counter (gs_counter_length), in bytes.
 * Larger: HA_GS_BAD_PARAMETER. */
#define HA_GS_MAX_COUNTER_LENGTH 64

/* Most groups one client may be in at once, provider and subscriber tokens
 * together (the default of gsd --max-groups-per-client).
 * More: HA_GS_TOO_MANY_GROUPS. */
#define HA_GS_MAX_GROUPS_PER_CLIENT 4096

/* Most providers in one group, counting joins already queued
 * (the default of gsd --max-providers-per-group).
 * More: HA_GS_TOO_MANY_GROUPS on ha_gs_join. */
#define HA_GS_MAX_PROVIDERS_PER_GROUP 1024

/* Most provider and subscriber tokens of all clients of one gsd together
 * (the default of gsd --max-tokens): with the per-client limit alone, the
 * clients could make gsd hold millions of groups. More:
 * HA_GS_TOO_MANY_GROUPS on ha_gs_join and ha_gs_subscribe. */
#define HA_GS_MAX_TOKENS 65536

/* Bytes of group data gsd holds, all clients together (the default of gsd
 * --max-state-memory): state values, and until their protocols end the
 * values, messages, expel lists and vote attachments of n-phase proposals,
 * the state value's copy they keep, and a source's new state value once per
 * target group (for its reflection). A request that would go beyond gets
 * HA_GS_NO_MEMORY; what a protocol holds is given back when it ends. */
#define HA_GS_MAX_STATE_MEMORY 268435456

/* Most clients one gsd serves at once (the default of gsd --max-clients).
 * More: ha_gs_init returns HA_GS_CONNECT_FAILED. */
#define HA_GS_MAX_CLIENTS 4096

/* Requests one client may make per second, and at once after being idle
 * (the default of gsd --max-request-rate; the burst is --request-burst,
 * by default the same number). Votes do not count. More:
 * HA_GS_NO_MEMORY, and the request is not carried out. */
#define HA_GS_MAX_REQUEST_RATE 100000

/* Messages gsd queues for one client that does not read them (the default
 * of gsd --send-queue-limit). More: the client is a slow consumer and loses
 * its session (see "Slow consumers" above). */
#define HA_GS_MAX_QUEUED_NOTIFICATIONS 10000

/* Bytes gsd queues for one client that it has not read yet (the default of
 * gsd --send-queue-bytes; the library tells gsd as it reads). More: the
 * client is a slow consumer and loses its session, whatever the number of
 * messages (see "Slow consumers" above). */
#define HA_GS_MAX_QUEUED_BYTES 33554432

/* Every voting phase ends after at most this many seconds (one hour). A time
 * limit of zero (no limit asked for) means the ceiling; a limit above it is
 * refused (HA_GS_BAD_PARAMETER in a request, HA_GS_BAD_GROUP_ATTRIBUTES in
 * group attributes), never cut down. Responsiveness intervals and response
 * time limits have the same ceiling. One hour leaves room for recovery work
 * in a phase (a database restart, a file system check); longer work spans
 * phases (HA_GS_VOTE_CONTINUE), and a provider that never votes holds its
 * group for at most an hour per phase. */
#define HA_GS_TIME_LIMIT_CEILING 3600

/* A request whose reply does not arrive within this many milliseconds
 * declares the connection to gsd lost (HA_GS_NOT_OK). */
#define HA_GS_REQUEST_TIMEOUT_MS 10000

/****************************************************************************/
/*  Scalar types                                                            */
/****************************************************************************/

typedef int ha_gs_token_t;              /* provider or subscriber token */
typedef int ha_gs_descriptor_t;         /* pollable file descriptor */
typedef int ha_gs_node_number_t;        /* node number of a gsd */
typedef int ha_gs_time_limit_t;         /* seconds */
typedef const char *ha_gs_group_name_t; /* NUL-terminated group name */

/* First Failure Data Capture event id (ha_gs_get_ffdc_id), a NUL-terminated
 * string, as RSCT's FFDC library (fc.h) defines it; defined here only when
 * fc.h was not included first. */
#ifndef FC_EID_LEN
#define FC_EID_LEN 42
typedef char fc_eid_t[FC_EID_LEN + 1];
#endif

/****************************************************************************/
/*  Return codes                                                            */
/****************************************************************************/

typedef enum {
    HA_GS_OK = 0,                         /* success / request accepted */
    HA_GS_NOT_OK = 1,                     /* connection to gsd lost; call ha_gs_init again */
    HA_GS_EXISTS = 2,                     /* already initialized, or already in that group */
    HA_GS_NO_INIT = 3,                    /* ha_gs_init has not been called */
    HA_GS_NAME_TOO_LONG = 4,              /* group name longer than HA_GS_MAX_GROUP_NAME_LENGTH */
    HA_GS_NO_MEMORY = 5,                  /* out of memory, or gsd's budget for this client is
                                             exhausted (state memory, request rate): retry later */
    HA_GS_NOT_A_MEMBER = 6,               /* the provider's join has not been approved yet */
    HA_GS_BAD_CLIENT_TOKEN = 7,           /* reserved for RSCT compatibility; never returned */
    HA_GS_BAD_MEMBER_TOKEN = 8,           /* not a live provider or subscriber token of this
                                             client, or one of the wrong kind for the call */
    HA_GS_BAD_PARAMETER = 9,              /* invalid argument */
    HA_GS_UNKNOWN_GROUP = 10,             /* the group does not exist (delayed error) */
    HA_GS_INVALID_GROUP = 11,             /* malformed group name, or a system group joined */
    HA_GS_NO_SOURCE_GROUP_PROVIDER = 12,  /* the source group has no provider */
    HA_GS_BAD_GROUP_ATTRIBUTES = 13,      /* invalid attributes, or unlike the group's */
    HA_GS_WRONG_OLD_STATE = 14,           /* reserved for RSCT compatibility; never returned */
    HA_GS_DUPLICATE_INSTANCE_NUMBER = 15, /* instance number in use in the group on this node */
    HA_GS_COLLIDE = 16,                   /* another protocol runs or is queued in the group */
    HA_GS_SOCK_CREATE_FAILED = 17,        /* could not create the connection's sockets */
    HA_GS_SOCK_INIT_FAILED = 18,          /* HA_GS_SOCKET is not a usable endpoint */
    HA_GS_CONNECT_FAILED = 19,            /* no gsd, gsd full, or domain not synced */
    HA_GS_VOTE_NOT_EXPECTED = 20,         /* no vote of this provider is awaited */
    HA_GS_NOT_SUPPORTED = 21,             /* option this implementation does not provide */
    HA_GS_INVALID_SOURCE_GROUP = 22,      /* source group malformed, the group or a system one */
    HA_GS_UNKNOWN_PROVIDER = 23,          /* expel list names a provider not in the group */
    HA_GS_INVALID_DEACTIVATE_PHASE = 24,  /* deactivate phase beyond the protocol's phases */
    HA_GS_BACKLEVEL_PROVIDERS = 25,       /* reserved for RSCT compatibility; never returned */
    HA_GS_DOMAIN_NOT_RECOG = 26,          /* HA_DOMAIN_NAME names a domain gsd does not serve */
    HA_GS_TOO_MANY_GROUPS = 27,           /* a groups or providers limit would be exceeded */
    HA_GS_NOT_AUTHORIZED = 28             /* not root, gsd's user or in --auth-group */
} ha_gs_rc_t;

/****************************************************************************/
/*  Enumerations and flags                                                  */
/****************************************************************************/

typedef enum {
    HA_GS_BLOCKING = 1,    /* deliver notifications until the connection is lost */
    HA_GS_NON_BLOCKING = 2 /* deliver what is pending, then return */
} ha_gs_dispatch_flag_t;

/* ha_gs_init socket_control flags. HA_GS_SOCKET_NO_SIGNAL is required. */
typedef unsigned int ha_gs_socket_ctrl_t;
#define HA_GS_SOCKET_NO_SIGNAL 0x1u
#define HA_GS_ENABLE_ADAPTER_INFO 0x2u

typedef enum {
    HA_GS_NULL_VOTE = 0, /* no vote / keep the current default */
    HA_GS_VOTE_APPROVE = 1,
    HA_GS_VOTE_CONTINUE = 2, /* ask for another phase */
    HA_GS_VOTE_REJECT = 3
} ha_gs_vote_value_t;

typedef enum { HA_GS_1_PHASE = 1, HA_GS_N_PHASE = 2 } ha_gs_num_phases_t;

typedef enum {
    HA_GS_NO_BATCHING = 0,
    HA_GS_BATCH_JOINS = 1,  /* queued joins run together in one protocol */
    HA_GS_BATCH_LEAVES = 2, /* queued failure leaves run together in one protocol */
    HA_GS_BATCH_BOTH = 3
} ha_gs_batch_ctrl_t;

/* What happens when two instances of a group meet after a network partition
 * heals. Stored and compared on join; a single-node domain never merges. */
typedef enum { HA_GS_DEFAULT_MERGE = 0, HA_GS_DISSOLVE_ON_MERGE = 1 } ha_gs_merge_ctrl_t;

typedef enum {
    HA_GS_NO_RESPONSIVENESS = 0,
    HA_GS_PING_RESPONSIVENESS = 1,   /* gsd calls the responsiveness callback */
    HA_GS_COUNTER_RESPONSIVENESS = 2 /* gsd watches a counter the application advances */
} ha_gs_responsiveness_type_t;

typedef enum { HA_GS_CALLBACK_OK = 0, HA_GS_CALLBACK_NOT_OK = 1 } ha_gs_callback_rc_t;

typedef enum {
    HA_GS_N_PHASE_NOTIFICATION = 1,
    HA_GS_APPROVED_NOTIFICATION = 2,
    HA_GS_REJECTED_NOTIFICATION = 3,
    HA_GS_ANNOUNCEMENT_NOTIFICATION = 4,
    HA_GS_SUBSCRIPTION_NOTIFICATION = 5,
    HA_GS_DELAYED_ERROR_NOTIFICATION = 6,
    HA_GS_RESPONSIVENESS_NOTIFICATION = 7,
    HA_GS_MERGE_NOTIFICATION = 8,
    HA_GS_QUERY_NOTIFICATION = 9
} ha_gs_notification_type_t;

/* Protocol types. */
typedef enum {
    HA_GS_JOIN = 1,
    HA_GS_LEAVE = 2,
    HA_GS_FAILURE_LEAVE = 3, /* process died, called ha_gs_quit or ha_gs_goodbye */
    HA_GS_EXPEL = 4,
    HA_GS_CAST_OUT = 5, /* removed because its source group dissolved */
    HA_GS_STATE_VALUE_CHANGE = 6,
    HA_GS_PROVIDER_MESSAGE = 7,
    HA_GS_GROUP_ATTRIBUTE_CHANGE = 8,
    HA_GS_SOURCE_STATE_REFLECTION = 9,
    HA_GS_MERGE = 10,
    HA_GS_SUBSCRIPTION = 11 /* in delayed errors of ha_gs_subscribe */
} ha_gs_request_t;

/* Summary codes: bit flags, several may be set. */
typedef unsigned int ha_gs_summary_code_t;
#define HA_GS_EXPLICIT_APPROVE 0x0001u               /* every voter voted approve */
#define HA_GS_EXPLICIT_REJECT 0x0002u                /* a voter voted reject */
#define HA_GS_DEFAULT_APPROVE 0x0004u                /* approve came from a default vote */
#define HA_GS_DEFAULT_REJECT 0x0008u                 /* reject came from a default vote */
#define HA_GS_TIME_LIMIT_EXCEEDED 0x0010u            /* a voter missed the phase's time limit */
#define HA_GS_PROVIDER_FAILED 0x0020u                /* a voter failed during the protocol */
#define HA_GS_RESPONSIVENESS_NO_RESPONSE 0x0040u     /* a provider failed a responsiveness check */
#define HA_GS_RESPONSIVENESS_RESPONSE 0x0080u        /* reserved */
#define HA_GS_DEACTIVATE_SUCCESSFUL 0x0100u          /* a deactivate script exited 0 */
#define HA_GS_DEACTIVATE_UNSUCCESSFUL 0x0200u        /* a script failed or could not run */
#define HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED 0x0400u /* a script outlived the time limit */
#define HA_GS_GROUP_DISSOLVED 0x0800u                /* the protocol emptied the group */
/* The HA_GS_DEACTIVATE_* bits (see ha_gs_expel) are set in the expel's
 * approved or rejected notification, and in the n-phase notification after
 * the phase the scripts ran in: one bit per outcome that occurred. */

/* Why a provider is in the changing list of a leave-type protocol. */
typedef enum {
    HA_GS_PROVIDER_LEFT = 1,         /* ha_gs_leave */
    HA_GS_PROVIDER_FAILED_LEAVE = 2, /* process died or called ha_gs_quit */
    HA_GS_PROVIDER_SAID_GOODBYE = 3, /* ha_gs_goodbye */
    HA_GS_PROVIDER_EXPELLED = 4,     /* ha_gs_expel */
    HA_GS_PROVIDER_CAST_OUT = 5      /* source group lost its provider */
} ha_gs_leave_reason_t;

/* Subscription control (request) flags, and subscription type (notification)
 * flags. Each HA_GS_SUBSCRIBE_X has the value of HA_GS_SUBSCRIPTION_X. */
typedef unsigned int ha_gs_subscription_ctrl_t;
typedef unsigned int ha_gs_subscription_type_t;
#define HA_GS_SUBSCRIPTION_STATE 0x01u
#define HA_GS_SUBSCRIPTION_DELTA_JOIN 0x02u
#define HA_GS_SUBSCRIPTION_DELTA_LEAVE 0x04u
#define HA_GS_SUBSCRIPTION_MEMBERSHIP 0x08u
#define HA_GS_SUBSCRIPTION_SPECIAL_DATA 0x10u
#define HA_GS_SUBSCRIPTION_DISSOLVED 0x20u   /* notification only */
#define HA_GS_SUBSCRIPTION_GS_HAS_DIED 0x40u /* notification only */
#define HA_GS_SUBSCRIBE_STATE HA_GS_SUBSCRIPTION_STATE
#define HA_GS_SUBSCRIBE_DELTA_JOIN HA_GS_SUBSCRIPTION_DELTA_JOIN
#define HA_GS_SUBSCRIBE_DELTA_LEAVE HA_GS_SUBSCRIPTION_DELTA_LEAVE
#define HA_GS_SUBSCRIBE_MEMBERSHIP HA_GS_SUBSCRIPTION_MEMBERSHIP
#define HA_GS_SUBSCRIBE_SPECIAL_DATA HA_GS_SUBSCRIPTION_SPECIAL_DATA
#define HA_GS_SUBSCRIBE_ALL_MEMBERSHIP                                                             \
    (HA_GS_SUBSCRIBE_DELTA_JOIN | HA_GS_SUBSCRIBE_DELTA_LEAVE | HA_GS_SUBSCRIBE_MEMBERSHIP)

/* Special data block flags (adapter membership groups). */
#define HA_GS_ADAPTER_DEATH_ARRAY 0x1u
#define HA_GS_CURRENT_ADAPTER_ALIAS_ARRAY 0x2u
#define HA_GS_CHANGING_ADAPTER_ALIAS_ARRAY 0x4u

/****************************************************************************/
/*  Data blocks                                                             */
/****************************************************************************/

/* One provider: its instance number (chosen at join) and its node. */
typedef struct {
    short gs_instance_number;
    short gs_node_number;
} ha_gs_provider_t;

typedef struct {
    unsigned int gs_count;
    ha_gs_provider_t *gs_providers;
} ha_gs_membership_t;

/* Opaque, application-defined bytes. */
typedef struct {
    unsigned int gs_length;
    char *gs_state;
} ha_gs_state_value_t;

typedef struct {
    unsigned int gs_length;
    char *gs_message;
} ha_gs_provider_message_t;

typedef struct {
    int gs_version;                 /* 1 */
    int gs_sizeof_group_attributes; /* sizeof(ha_gs_group_attributes_t) */
    int gs_client_version;          /* application's own version; informational */
    ha_gs_batch_ctrl_t gs_batch_control;
    ha_gs_num_phases_t gs_num_phases; /* of joins and failure leaves; 0 = one phase */
    ha_gs_num_phases_t gs_source_reflection_num_phases; /* reflections, cast-outs; 0 = one */
    ha_gs_vote_value_t gs_group_default_vote;           /* HA_GS_NULL_VOTE = approve */
    ha_gs_merge_ctrl_t gs_merge_control;
    ha_gs_time_limit_t gs_time_limit; /* of joins and failure leaves; 0 = ceiling */
    ha_gs_time_limit_t gs_source_reflection_time_limit; /* reflections, cast-outs; 0 = ceiling */
    ha_gs_group_name_t gs_group_name;
    ha_gs_group_name_t gs_source_group_name; /* NULL or "" = none */
} ha_gs_group_attributes_t;

typedef struct {
    ha_gs_responsiveness_type_t gs_responsiveness_type;
    ha_gs_time_limit_t gs_responsiveness_interval; /* seconds between checks, 1..ceiling */
    ha_gs_time_limit_t gs_responsiveness_response_time_limit; /* seconds to answer, 1..ceiling */
    /* HA_GS_COUNTER_RESPONSIVENESS only: the counter the application
     * changes (e.g. increments in its main loop), and its length in bytes
     * (1..HA_GS_MAX_COUNTER_LENGTH). It must stay valid until ha_gs_quit. */
    void *gs_counter_location;
    int gs_counter_length;
} ha_gs_responsiveness_t;

typedef struct {
    unsigned int gs_phase_number; /* 1-based; in approved/rejected: phases run */
    ha_gs_num_phases_t gs_num_phases;
} ha_gs_phase_info_t;

/* One entry per changing provider of a leave-type protocol. */
typedef struct {
    unsigned int gs_leave_code; /* from ha_gs_leave; 0 otherwise */
    ha_gs_leave_reason_t gs_leave_reason;
} ha_gs_leave_info_t;

typedef struct {
    unsigned int gs_deactivate_phase;
    const char *gs_deactivate_flag;
} ha_gs_expel_info_t;

/* What a protocol proposes, or what it changed once approved. Pointers that
 * do not apply to the protocol are NULL. All of it is valid only during the
 * callback.
 *
 * gs_current_providers: in n-phase and rejected notifications, the
 * membership the proposal was made against (before the protocol); in
 * approved notifications, the membership in force after it, the same list
 * subscribers get as full membership for the change (a provider removed by
 * an approved leave, failure leave, expel or cast-out is no longer in it;
 * an approved joiner is).
 *
 * gs_provider_message: a provider message protocol's message, in every
 * notification of it; otherwise a message a voter attached to its vote,
 * carried by the next notification of the protocol only. */
typedef struct {
    ha_gs_phase_info_t gs_phase_info;
    ha_gs_state_value_t *gs_old_state_value;                /* group state before the protocol */
    ha_gs_state_value_t *gs_proposed_state_value;           /* new state; NULL = unchanged */
    ha_gs_provider_message_t *gs_provider_message;          /* NULL = none */
    ha_gs_membership_t *gs_current_providers;               /* see below */
    ha_gs_membership_t *gs_changing_providers;              /* joining or leaving providers */
    ha_gs_leave_info_t *gs_leave_info;                      /* parallel to gs_changing_providers */
    ha_gs_expel_info_t *gs_expel_info;                      /* expel protocols */
    ha_gs_group_attributes_t *gs_proposed_group_attributes; /* attribute changes */
    ha_gs_state_value_t *gs_source_state_value;             /* source-state reflection */
} ha_gs_proposal_t;

/* Subscription special data (adapter membership groups). */
typedef struct ha_gs_special_block {
    unsigned int gs_special_flag;
    struct ha_gs_special_block *gs_next_special_block;
    int gs_special_num_entries;
    int gs_special_length;
    void *gs_special;
} ha_gs_special_block_t;

typedef struct {
    int gs_length;        /* number of blocks */
    unsigned int gs_flag; /* OR of the blocks' flags */
    ha_gs_special_block_t *gs_special_data;
} ha_gs_special_data_t;

typedef struct {
    ha_gs_provider_t gs_member_id;    /* unused */
    ha_gs_group_name_t gs_group_name; /* unused */
    union {
        struct in_addr ip4;
        struct in6_addr ip6;
    } ip_addr;                  /* in: the address (IPv4 only) */
    short node_number;          /* out */
    const char *interface_name; /* out; valid until ha_gs_quit */
} ha_gs_adapter_info;

/****************************************************************************/
/*  Notification blocks and callback types                                  */
/****************************************************************************/

typedef struct {
    ha_gs_notification_type_t gs_notification_type; /* HA_GS_N_PHASE_NOTIFICATION */
    ha_gs_token_t gs_provider_token;
    ha_gs_request_t gs_protocol_type;
    ha_gs_summary_code_t gs_summary_code; /* outcome of the previous phase */
    ha_gs_time_limit_t gs_time_limit;     /* seconds to vote in this phase */
    ha_gs_proposal_t *gs_proposal;
} ha_gs_n_phase_notification_t;

typedef struct {
    ha_gs_notification_type_t gs_notification_type; /* HA_GS_APPROVED_NOTIFICATION */
    ha_gs_token_t gs_provider_token;
    ha_gs_request_t gs_protocol_type;
    ha_gs_summary_code_t gs_summary_code;
    ha_gs_proposal_t *gs_proposal;
} ha_gs_approved_notification_t;
typedef ha_gs_approved_notification_t ha_gs_protocol_approved_notification_t;

typedef struct {
    ha_gs_notification_type_t gs_notification_type; /* HA_GS_REJECTED_NOTIFICATION */
    ha_gs_token_t gs_provider_token;
    ha_gs_request_t gs_protocol_type;
    ha_gs_summary_code_t gs_summary_code;
    ha_gs_proposal_t *gs_proposal;
} ha_gs_rejected_notification_t;
typedef ha_gs_rejected_notification_t ha_gs_protocol_rejected_notification_t;

typedef struct {
    ha_gs_notification_type_t gs_notification_type; /* HA_GS_ANNOUNCEMENT_NOTIFICATION */
    ha_gs_token_t gs_provider_token;
    ha_gs_summary_code_t gs_summary_code;
    ha_gs_membership_t *gs_announcement; /* the providers concerned */
} ha_gs_announcement_notification_t;

typedef struct {
    ha_gs_notification_type_t gs_notification_type; /* HA_GS_SUBSCRIPTION_NOTIFICATION */
    ha_gs_token_t gs_subscriber_token;
    ha_gs_subscription_type_t gs_subscription_type;
    ha_gs_state_value_t *gs_state_value;
    ha_gs_membership_t *gs_full_membership;
    ha_gs_membership_t *gs_changing_membership;
    ha_gs_special_data_t *gs_subscription_special_data;
} ha_gs_subscription_notification_t;

typedef struct {
    ha_gs_notification_type_t gs_notification_type; /* HA_GS_MERGE_NOTIFICATION */
    ha_gs_token_t gs_provider_token;
    ha_gs_summary_code_t gs_summary_code;
} ha_gs_merge_notification_t;

typedef struct {
    ha_gs_notification_type_t gs_notification_type; /* HA_GS_RESPONSIVENESS_NOTIFICATION */
    ha_gs_responsiveness_t gs_responsiveness_information;
} ha_gs_responsiveness_notification_t;

typedef struct {
    ha_gs_notification_type_t gs_notification_type; /* HA_GS_QUERY_NOTIFICATION */
    ha_gs_token_t gs_token;
} ha_gs_query_notification_t;

typedef void ha_gs_n_phase_cb_t(const ha_gs_n_phase_notification_t *);
typedef void ha_gs_approved_cb_t(const ha_gs_approved_notification_t *);
typedef void ha_gs_rejected_cb_t(const ha_gs_rejected_notification_t *);
typedef void ha_gs_announcement_cb_t(const ha_gs_announcement_notification_t *);
typedef void ha_gs_merge_cb_t(const ha_gs_merge_notification_t *);
typedef void ha_gs_subscriber_cb_t(const ha_gs_subscription_notification_t *);
typedef ha_gs_callback_rc_t ha_gs_responsiveness_cb_t(const ha_gs_responsiveness_notification_t *);
typedef void ha_gs_query_cb_t(const ha_gs_query_notification_t *);

/****************************************************************************/
/*  Request blocks: ha_gs_proposal_info_t                                   */
/****************************************************************************/

typedef struct {
    const ha_gs_group_attributes_t *gs_group_attributes;
    short gs_provider_instance;                         /* 0..32767, unique in the group per node */
    const char *gs_provider_local_name;                 /* optional, for logs */
    ha_gs_n_phase_cb_t *gs_n_phase_protocol_callback;   /* required */
    ha_gs_approved_cb_t *gs_protocol_approved_callback; /* required */
    ha_gs_rejected_cb_t *gs_protocol_rejected_callback; /* required */
    ha_gs_announcement_cb_t *gs_announcement_callback;  /* optional */
    ha_gs_merge_cb_t *gs_merge_callback;                /* optional */
} ha_gs_join_request_t;

typedef struct {
    ha_gs_num_phases_t gs_num_phases;
    ha_gs_time_limit_t gs_time_limit;
    unsigned int gs_leave_code;
} ha_gs_leave_request_t;

typedef struct {
    ha_gs_num_phases_t gs_num_phases;
    ha_gs_time_limit_t gs_time_limit;
    ha_gs_membership_t gs_expel_list;
    unsigned int gs_deactivate_phase; /* 0 = none */
    const char *gs_deactivate_flag;
} ha_gs_expel_request_t;

typedef struct {
    ha_gs_num_phases_t gs_num_phases;
    ha_gs_time_limit_t gs_time_limit;
    const ha_gs_state_value_t *gs_new_state;
} ha_gs_state_change_request_t;

typedef struct {
    ha_gs_num_phases_t gs_num_phases;
    ha_gs_time_limit_t gs_time_limit;
    const ha_gs_provider_message_t *gs_message;
} ha_gs_message_request_t;

typedef struct {
    ha_gs_num_phases_t gs_num_phases;
    ha_gs_time_limit_t gs_time_limit;
    const ha_gs_group_attributes_t *gs_group_attributes;
    ha_gs_membership_t *gs_backlevel_providers; /* out; always empty here */
} ha_gs_change_attributes_t;
typedef ha_gs_change_attributes_t ha_gs_attribute_change_request_t;

typedef struct {
    ha_gs_subscription_ctrl_t gs_subscription_control;
    ha_gs_group_name_t gs_subscription_group;
    ha_gs_subscriber_cb_t *gs_subscription_callback; /* required */
} ha_gs_subscribe_request_t;

typedef union {
    ha_gs_join_request_t gs_join_request;
    ha_gs_leave_request_t gs_leave_request;
    ha_gs_expel_request_t gs_expel_request;
    ha_gs_state_change_request_t gs_state_change_request;
    ha_gs_message_request_t gs_message_request;
    ha_gs_change_attributes_t gs_attribute_change_request;
    ha_gs_subscribe_request_t gs_subscribe_request;
} ha_gs_proposal_info_t;

typedef struct {
    ha_gs_notification_type_t gs_notification_type; /* HA_GS_DELAYED_ERROR_NOTIFICATION */
    ha_gs_token_t gs_request_token;
    ha_gs_request_t gs_protocol_type;
    ha_gs_rc_t gs_delayed_return_code;
    const ha_gs_proposal_info_t *gs_failing_request; /* the original request */
} ha_gs_delayed_error_notification_t;

typedef void ha_gs_delayed_error_cb_t(const ha_gs_delayed_error_notification_t *);

/****************************************************************************/
/*  Functions                                                               */
/****************************************************************************/

/*
 * ha_gs_init - connect this process to gsd.
 *
 * Synchronous. Connects to the endpoint in HA_GS_SOCKET (or the default),
 * proves the caller's credentials, and returns a descriptor to poll.
 *
 * descriptor             out: a file descriptor that poll()/select() report
 *                        readable whenever ha_gs_dispatch has work (level-
 *                        triggered). Never read, write or close it.
 * socket_control         HA_GS_SOCKET_NO_SIGNAL, optionally OR
 *                        HA_GS_ENABLE_ADAPTER_INFO.
 * responsiveness_control NULL or HA_GS_NO_RESPONSIVENESS: no checks.
 *                        HA_GS_PING_RESPONSIVENESS: every interval seconds
 *                        gsd asks; the library runs responsiveness_callback
 *                        in ha_gs_dispatch and answers if it returns
 *                        HA_GS_CALLBACK_OK. No answer within the response
 *                        time limit: the providers of this client's groups get
 *                        an announcement with HA_GS_RESPONSIVENESS_NO_RESPONSE.
 *                        HA_GS_COUNTER_RESPONSIVENESS: every interval seconds
 *                        gsd reads the gs_counter_length bytes at
 *                        gs_counter_location in this process (it needs the
 *                        right to read this process's memory: gsd running as
 *                        root, or as this user where ptrace is allowed); if
 *                        they have not changed when the response time limit
 *                        has passed, the providers get the same
 *                        announcement as for a missed ping.
 *                        The responsiveness callback is not called.
 * deactivate_script      NULL or "": none. Else the absolute path
 *                        (at most HA_GS_MAX_DEACTIVATE_SCRIPT_LENGTH bytes)
 *                        of an executable that gsd runs, as this process's
 *                        user, when an expel removes one of its providers
 *                        (see ha_gs_expel). It is not checked here: a path
 *                        that cannot be run makes the expel report
 *                        HA_GS_DEACTIVATE_UNSUCCESSFUL. gsd runs only a
 *                        regular file (not a symbolic link) owned by root or
 *                        by this process's user and not writable by its
 *                        group or others, in directories that, up to /, are
 *                        each owned by root or by this user and not writable
 *                        by group or others (so not under /tmp, even sticky);
 *                        any other script is not run, counts as
 *                        HA_GS_DEACTIVATE_UNSUCCESSFUL, and gsd logs why.
 * responsiveness_callback required with HA_GS_PING_RESPONSIVENESS.
 * delayed_error_callback optional; receives asynchronous errors.
 * query_callback         optional; gsd issues no queries, it is never called.
 *
 * Returns HA_GS_OK, or
 *   HA_GS_EXISTS             already initialized and the connection is alive;
 *   HA_GS_BAD_PARAMETER      descriptor NULL, socket_control without
 *                            HA_GS_SOCKET_NO_SIGNAL or with unknown bits, a
 *                            responsiveness interval or time limit outside
 *                            1..HA_GS_TIME_LIMIT_CEILING, missing callback,
 *                            counter NULL or of a bad length, a relative or
 *                            too long deactivate script path;
 *   HA_GS_NOT_SUPPORTED      HA_GS_COUNTER_RESPONSIVENESS and gsd may not
 *                            read this process's memory;
 *   HA_GS_SOCK_CREATE_FAILED no sockets could be created (e.g. no free file
 *                            descriptors);
 *   HA_GS_SOCK_INIT_FAILED   HA_GS_SOCKET is not a valid ipc:// endpoint;
 *   HA_GS_CONNECT_FAILED     no gsd serves the endpoint, it serves its
 *                            maximum number of clients, or (gsd --cluster)
 *                            it does not hold the domain's state yet or
 *                            its node has no quorum: retry later;
 *   HA_GS_NOT_AUTHORIZED     caller is neither root, nor gsd's own user, nor
 *                            in gsd's authorized group (default hagsuser);
 *   HA_GS_DOMAIN_NOT_RECOG   HA_DOMAIN_NAME differs from gsd's domain;
 *   HA_GS_NO_MEMORY          out of memory.
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_init(ha_gs_descriptor_t *descriptor,
                                   const ha_gs_socket_ctrl_t socket_control,
                                   const ha_gs_responsiveness_t *responsiveness_control,
                                   const char *deactivate_script,
                                   ha_gs_responsiveness_cb_t *responsiveness_callback,
                                   ha_gs_delayed_error_cb_t *delayed_error_callback,
                                   ha_gs_query_cb_t *query_callback);

/*
 * ha_gs_dispatch - run the callbacks of pending notifications.
 *
 * HA_GS_NON_BLOCKING: delivers every notification that is pending, then
 * returns. HA_GS_BLOCKING: delivers notifications as they arrive and returns
 * only when the connection is lost. Callbacks run in the calling thread.
 *
 * Returns HA_GS_OK (non-blocking), or
 *   HA_GS_NO_INIT       not initialized;
 *   HA_GS_BAD_PARAMETER dispatch_flag is neither value;
 *   HA_GS_NOT_OK        the connection to gsd is lost (after delivering
 *                       HA_GS_SUBSCRIPTION_GS_HAS_DIED to every subscription),
 *                       or ha_gs_quit was called from another thread.
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_dispatch(const ha_gs_dispatch_flag_t dispatch_flag);

/*
 * ha_gs_quit - disconnect from gsd.
 *
 * Every group in which this process is a provider runs a failure-leave
 * protocol (reason HA_GS_PROVIDER_FAILED_LEAVE); subscriptions end silently.
 * All tokens become invalid; the descriptor is closed. Threads blocked in
 * ha_gs_dispatch return HA_GS_NOT_OK. Afterwards ha_gs_init may be called
 * again. Never fails; does nothing when not initialized.
 */
HA_GS_EXPORT void ha_gs_quit(void);

/*
 * ha_gs_join - join a group as a provider (creating it if needed).
 *
 * Asynchronous outcome: the join protocol's approved or rejected callback.
 * The first provider creates the group with its attributes. Later joiners
 * must give the same immutable attributes: gs_group_name,
 * gs_source_group_name and gs_merge_control. The others are mutable
 * (ha_gs_change_attributes) and a joiner's values for them are checked for
 * range but otherwise ignored: the group keeps its current ones, since a
 * restarted application cannot know what was changed since it was built. Joins are
 * queued behind a running protocol and run one at a time, or together when
 * the group batches joins. An n-phase join (gs_num_phases in the attributes)
 * asks the current providers and the joiners to vote.
 *
 * provider_token  out: the token for every later call on this group; it also
 *                 comes back in every callback. Valid until a leave, expel,
 *                 goodbye or rejected join ends the membership. It is stored
 *                 before any callback for it can run, even while other
 *                 threads block in ha_gs_dispatch (libha_gs_r).
 * proposal_info   gs_join_request (see ha_gs_join_request_t).
 *
 * Returns HA_GS_OK, or
 *   HA_GS_NO_INIT, HA_GS_NOT_OK      not initialized / connection lost;
 *   HA_GS_BAD_PARAMETER              a NULL pointer or required callback,
 *                                    instance number outside 0..32767, local
 *                                    name too long;
 *   HA_GS_NAME_TOO_LONG              group name too long;
 *   HA_GS_INVALID_GROUP              group name empty or not printable ASCII,
 *                                    or HostMembership: a system group, which
 *                                    processes subscribe to and never join
 *                                    (the name is wrong for the call, so not
 *                                    HA_GS_NOT_SUPPORTED, which says an
 *                                    option is missing);
 *   HA_GS_BAD_GROUP_ATTRIBUTES       gs_version is not 1, wrong
 *                                    gs_sizeof_group_attributes, a value out
 *                                    of range (a time limit above
 *                                    HA_GS_TIME_LIMIT_CEILING), or immutable
 *                                    attributes unlike the existing group's;
 *   HA_GS_INVALID_SOURCE_GROUP       source group name malformed, equal to
 *                                    the group's own name, or HostMembership;
 *   HA_GS_NO_SOURCE_GROUP_PROVIDER   the source group has no provider;
 *   HA_GS_DUPLICATE_INSTANCE_NUMBER  the instance number is in use (or being
 *                                    joined) in the group on this node;
 *   HA_GS_EXISTS                     this process is already a provider of
 *                                    the group;
 *   HA_GS_TOO_MANY_GROUPS            HA_GS_MAX_GROUPS_PER_CLIENT,
 *                                    HA_GS_MAX_PROVIDERS_PER_GROUP or
 *                                    HA_GS_MAX_TOKENS reached.
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_join(ha_gs_token_t *provider_token,
                                   const ha_gs_proposal_info_t *proposal_info);

/*
 * ha_gs_leave - leave a group voluntarily.
 *
 * Runs a HA_GS_LEAVE protocol (one or n phases, per gs_leave_request). The
 * leaving provider votes too. When approved, every provider (the leaver
 * included) gets the approved callback and the leaver's token becomes invalid
 * after it; subscribers see a delta leave.
 *
 * Returns HA_GS_OK, or
 *   HA_GS_NO_INIT, HA_GS_NOT_OK   not initialized / connection lost;
 *   HA_GS_BAD_PARAMETER           NULL proposal_info, bad gs_num_phases or
 *                                 time limit (negative, or above
 *                                 HA_GS_TIME_LIMIT_CEILING);
 *   HA_GS_BAD_MEMBER_TOKEN        not a live provider token of this process
 *                                 (a subscriber token included);
 *   HA_GS_NOT_A_MEMBER            the join has not been approved yet;
 *   HA_GS_COLLIDE                 a protocol runs or is queued in the group.
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_leave(ha_gs_token_t provider_token,
                                    const ha_gs_proposal_info_t *proposal_info);

/*
 * ha_gs_goodbye - leave a group at once, as though the process had failed.
 *
 * Synchronous: on HA_GS_OK the caller is out of the group and the token is
 * invalid. The other providers see a HA_GS_FAILURE_LEAVE protocol whose
 * gs_leave_info gives HA_GS_PROVIDER_SAID_GOODBYE. If a protocol is running
 * the caller counts as failed and its votes take the default vote. A pending
 * (not yet approved) join is withdrawn.
 *
 * Returns HA_GS_OK, or HA_GS_NO_INIT, HA_GS_NOT_OK, HA_GS_BAD_MEMBER_TOKEN
 * (not a live provider token of this process: a subscriber token included).
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_goodbye(ha_gs_token_t provider_token);

/*
 * ha_gs_expel - propose to remove providers from the group.
 *
 * Runs a HA_GS_EXPEL protocol in which the providers not being expelled vote.
 * A provider may expel others or itself. When approved, the expelled
 * providers get the approved callback and their tokens become invalid after
 * it.
 *
 * Deactivate scripts: with gs_deactivate_phase N > 0, gsd runs the
 * deactivate script (ha_gs_init) of each expelled provider whose process is
 * alive and registered one, in phase N of the expel: a one-phase expel runs
 * them before it is approved; an n-phase expel starts them with the n-phase
 * notification of phase N, and that phase ends only when the votes and the
 * scripts are all in; voting that approves before phase N runs them before
 * the approval; an expel rejected before phase N runs none. A script must
 * end within the expel's gs_time_limit (0: HA_GS_TIME_LIMIT_CEILING), else
 * gsd kills its process group and counts HA_GS_DEACTIVATE_TIME_LIMIT_EXCEEDED.
 * The outcome is the exit status of the script's own process; processes
 * it leaves behind in its process group are killed when the time limit
 * passes (and when gsd stops).
 * It runs as the expelled process's user, group and supplementary groups
 * (never as gsd's user: when gsd cannot switch to that user it does not run
 * the script and counts HA_GS_DEACTIVATE_UNSUCCESSFUL), in its own session
 * and process group, with / as working directory, stdin, stdout and stderr
 * on /dev/null, only if it passes the checks of ha_gs_init, and
 *   argv: script path, gs_deactivate_flag ("" when NULL), group name,
 *         instance number, node number of the expelled provider (gsd
 *         executes the file it checked through its descriptor, so the
 *         interpreter of a "#!" script receives /dev/fd/N as $0);
 *   environment (nothing of gsd's): HA_GS_GROUP, HA_GS_DEACTIVATE_FLAG,
 *         HA_GS_PROVIDER_INSTANCE, HA_GS_PROVIDER_NODE, HA_GS_PROVIDER_PID
 *         (the expelled process), PATH=/usr/local/bin:/usr/bin:/bin.
 * Exit status 0 counts HA_GS_DEACTIVATE_SUCCESSFUL; anything else (another
 * status, a signal, a script that cannot be run)
 * HA_GS_DEACTIVATE_UNSUCCESSFUL. The outcomes are in the summary code of
 * the expel's approved (or rejected) notification. A script keeps running
 * when its process dies meanwhile.
 *
 * proposal_info  gs_expel_request: gs_expel_list names providers by
 *                instance and node number (1..HA_GS_MAX_PROVIDERS_PER_GROUP
 *                entries, no duplicates); gs_deactivate_phase 0 (no
 *                scripts) or a phase the protocol can reach (1 for
 *                one-phase).
 *
 * Returns HA_GS_OK, or
 *   HA_GS_NO_INIT, HA_GS_NOT_OK     not initialized / connection lost;
 *   HA_GS_BAD_PARAMETER             NULL pointers, empty or duplicate list,
 *                                   bad phases or time limit, flag too long;
 *   HA_GS_BAD_MEMBER_TOKEN, HA_GS_NOT_A_MEMBER;
 *   HA_GS_UNKNOWN_PROVIDER          a listed provider is not in the group;
 *   HA_GS_INVALID_DEACTIVATE_PHASE  deactivate phase > 1 in a one-phase expel;
 *   HA_GS_NO_MEMORY                 an n-phase expel's list and flag would
 *                                   exceed HA_GS_MAX_STATE_MEMORY while held;
 *   HA_GS_COLLIDE                   a protocol runs or is queued.
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_expel(ha_gs_token_t provider_token,
                                    const ha_gs_proposal_info_t *proposal_info);

/*
 * ha_gs_change_state_value - propose a new group state value.
 *
 * Runs a HA_GS_STATE_VALUE_CHANGE protocol. When approved, the group's state
 * is the proposed value (or the value a voter attached to its vote) and
 * subscribers of HA_GS_SUBSCRIBE_STATE are told.
 *
 * proposal_info  gs_state_change_request; gs_new_state non-NULL, at most
 *                HA_GS_MAX_STATE_VALUE_LENGTH bytes (0 allowed).
 *
 * Returns HA_GS_OK, or HA_GS_NO_INIT, HA_GS_NOT_OK, HA_GS_BAD_PARAMETER,
 * HA_GS_BAD_MEMBER_TOKEN, HA_GS_NOT_A_MEMBER,
 * HA_GS_COLLIDE, or
 *   HA_GS_NO_MEMORY  the value would exceed gsd's state memory budget
 *                    (HA_GS_MAX_STATE_MEMORY): an n-phase proposal counts
 *                    until it ends, a source's value once per target too.
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_change_state_value(ha_gs_token_t provider_token,
                                                 const ha_gs_proposal_info_t *proposal_info);

/*
 * ha_gs_change_attributes - propose new group attributes.
 *
 * Runs a HA_GS_GROUP_ATTRIBUTE_CHANGE protocol. Mutable: gs_client_version,
 * gs_batch_control, gs_num_phases, gs_source_reflection_num_phases,
 * gs_group_default_vote, gs_time_limit, gs_source_reflection_time_limit.
 * The group name, source group and merge control cannot change.
 * gs_backlevel_providers is ignored and never written (the request is
 * const): every provider speaks this protocol level, none is back level.
 * A new joiner's mutable attributes need not match (see ha_gs_join).
 *
 * Returns HA_GS_OK, or HA_GS_NO_INIT, HA_GS_NOT_OK, HA_GS_BAD_PARAMETER,
 * HA_GS_BAD_MEMBER_TOKEN, HA_GS_NOT_A_MEMBER,
 * HA_GS_COLLIDE, or
 *   HA_GS_BAD_GROUP_ATTRIBUTES  invalid values, or an immutable one changed;
 *   HA_GS_NO_MEMORY             an n-phase change would exceed
 *                               HA_GS_MAX_STATE_MEMORY while held.
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_change_attributes(ha_gs_token_t provider_token,
                                                const ha_gs_proposal_info_t *proposal_info);

/*
 * ha_gs_send_message - broadcast a message to the group's providers.
 *
 * Runs a HA_GS_PROVIDER_MESSAGE protocol; the message is in gs_provider_message
 * of its notifications. Subscribers see nothing.
 *
 * proposal_info  gs_message_request; gs_message non-NULL, at most
 *                HA_GS_MAX_MESSAGE_LENGTH bytes.
 *
 * Returns HA_GS_OK, or HA_GS_NO_INIT, HA_GS_NOT_OK, HA_GS_BAD_PARAMETER,
 * HA_GS_BAD_MEMBER_TOKEN, HA_GS_NOT_A_MEMBER,
 * HA_GS_COLLIDE, or
 *   HA_GS_NO_MEMORY  an n-phase message would exceed gsd's state memory
 *                    budget (HA_GS_MAX_STATE_MEMORY) while it is held.
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_send_message(ha_gs_token_t provider_token,
                                           const ha_gs_proposal_info_t *proposal_info);

/*
 * ha_gs_vote - vote in the current phase of an n-phase protocol.
 *
 * May be called inside the n-phase callback or after it returns. Any REJECT
 * rejects the protocol; all APPROVE approve it; otherwise (a CONTINUE, no
 * REJECT) another phase runs. When several voters attach a state value or a
 * message in one phase, the one from the provider earliest in the membership
 * list wins: it becomes the proposed state value, or the message carried by
 * the next notification (n-phase, approved or rejected) of the protocol, and
 * by that one only: later notifications do not repeat it.
 *
 * vote_value            HA_GS_VOTE_APPROVE, HA_GS_VOTE_CONTINUE or
 *                       HA_GS_VOTE_REJECT.
 * proposed_state_value  NULL, or a new state value (<= HA_GS_MAX_STATE_VALUE_LENGTH).
 * provider_message      NULL, or a message (<= HA_GS_MAX_MESSAGE_LENGTH).
 * default_vote_value    HA_GS_NULL_VOTE (keep), HA_GS_VOTE_APPROVE or
 *                       HA_GS_VOTE_REJECT: the vote given from now on, for
 *                       the rest of the protocol, to providers that miss the
 *                       time limit or fail. If voters of one phase disagree,
 *                       REJECT wins.
 *
 * Returns HA_GS_OK, or HA_GS_NO_INIT, HA_GS_NOT_OK, HA_GS_BAD_MEMBER_TOKEN, or
 *   HA_GS_BAD_PARAMETER      bad vote or default vote value, oversized data;
 *   HA_GS_NO_MEMORY          the attached state value or message would exceed
 *                            gsd's state memory budget (HA_GS_MAX_STATE_MEMORY;
 *                            a state value once more per target group);
 *   HA_GS_VOTE_NOT_EXPECTED  no protocol awaits this provider's vote (none
 *                            runs, it is one-phase, or it already voted in
 *                            this phase).
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_vote(ha_gs_token_t provider_token, ha_gs_vote_value_t vote_value,
                                   const ha_gs_state_value_t *proposed_state_value,
                                   const ha_gs_provider_message_t *provider_message,
                                   ha_gs_vote_value_t default_vote_value);

/*
 * ha_gs_subscribe - watch a group without joining it.
 *
 * Subscribers are invisible to providers and to each other; subscribing runs
 * no protocol. If the group exists the first notification gives its current
 * membership and/or state (as the control flags ask: MEMBERSHIP gives the full
 * list, otherwise DELTA_JOIN lists every current provider), then every
 * approved change follows, in order. One notification never carries both
 * DELTA_JOIN and DELTA_LEAVE. When the last provider is gone the subscriber
 * gets HA_GS_SUBSCRIPTION_DISSOLVED and the token is invalid once the callback
 * returns.
 *
 * The system group "HostMembership" (RSCT's host membership group) has the
 * domain's nodes as providers: one per node whose gsd is in the domain, with
 * gs_instance_number = gs_node_number = the node's number, in ascending
 * order (one gsd alone: its own node). A node whose gsd joins the domain is
 * a DELTA_JOIN; one whose gsd leaves it (stopped, killed, cut off) is a
 * DELTA_LEAVE, told before the failure leaves of that node's providers in
 * other groups. Its state value is empty and never changes. Nobody joins
 * it: ha_gs_join returns HA_GS_INVALID_GROUP.
 *
 * subscriber_token  out; stored before any callback for it can run, even
 *                   while other threads block in ha_gs_dispatch.
 * proposal_info     gs_subscribe_request: control is an OR of
 *                   HA_GS_SUBSCRIBE_STATE, _DELTA_JOIN, _DELTA_LEAVE,
 *                   _MEMBERSHIP, _SPECIAL_DATA, with at least one of the first
 *                   four.
 *
 * Returns HA_GS_OK, or HA_GS_NO_INIT, HA_GS_NOT_OK, HA_GS_BAD_PARAMETER (NULL
 * pointers, no callback, bad control flags), HA_GS_NAME_TOO_LONG,
 * HA_GS_INVALID_GROUP, HA_GS_EXISTS (already subscribed to the group),
 * HA_GS_TOO_MANY_GROUPS (HA_GS_MAX_GROUPS_PER_CLIENT or HA_GS_MAX_TOKENS).
 * Delayed error: HA_GS_UNKNOWN_GROUP when no provider has created the group;
 * the token is invalid after the delayed-error callback.
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_subscribe(ha_gs_token_t *subscriber_token,
                                        const ha_gs_proposal_info_t *proposal_info);

/*
 * ha_gs_unsubscribe - end a subscription.
 *
 * Synchronous; no notification follows.
 *
 * Returns HA_GS_OK, or HA_GS_NO_INIT, HA_GS_NOT_OK, HA_GS_BAD_MEMBER_TOKEN
 * (not a live subscriber token of this process: a provider token included).
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_unsubscribe(ha_gs_token_t subscriber_token);

/*
 * ha_gs_get_node_number - the node number of the local gsd (gsd --node-number).
 *
 * Returns HA_GS_OK, or HA_GS_NO_INIT, HA_GS_NOT_OK, HA_GS_BAD_PARAMETER
 * (node_number NULL).
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_get_node_number(ha_gs_node_number_t *node_number);

/*
 * ha_gs_get_adapter_info - map an IPv4 address to this node's adapter.
 *
 * Requires HA_GS_ENABLE_ADAPTER_INFO at ha_gs_init. Set adapter->ip_addr.ip4
 * to the address (IPv4 only). On success sets node_number (the local node)
 * and interface_name (e.g. "lo"; valid until ha_gs_quit).
 *
 * Returns HA_GS_OK, or HA_GS_NO_INIT, HA_GS_NOT_OK, or
 *   HA_GS_NOT_SUPPORTED  adapter info was not enabled at ha_gs_init;
 *   HA_GS_BAD_PARAMETER  adapter NULL, or the address is on no local adapter.
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_get_adapter_info(ha_gs_adapter_info *adapter);

/*
 * ha_gs_get_ffdc_id - the First Failure Data Capture id of a gsd failure.
 *
 * IBM documents that an id is not guaranteed. gsd records no FFDC ids (its
 * failures are in its log), so there is never one: fid is set to the empty
 * string and the call returns HA_GS_NOT_OK ("no id"), as IBM documents for
 * that case.
 *
 * fid  out: a buffer of type fc_eid_t.
 *
 * Returns HA_GS_NOT_OK (no id), or HA_GS_NO_INIT (not initialized), or
 * HA_GS_BAD_PARAMETER (fid NULL). Never HA_GS_OK.
 */
HA_GS_EXPORT ha_gs_rc_t ha_gs_get_ffdc_id(fc_eid_t fid);

/*
 * ha_gs_strerror - a static English description of a return code.
 * Extension. Never NULL; unknown codes give "unknown ha_gs return code".
 */
HA_GS_EXPORT const char *ha_gs_strerror(ha_gs_rc_t rc);

#ifdef __cplusplus
}
#endif

#endif /* HA_GS_H */
