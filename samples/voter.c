/* SPDX-License-Identifier: MIT */
/*
 * voter.c - take part in n-phase protocols and vote in every phase.
 *
 * Shows: a group whose joins are n-phase (gs_num_phases = HA_GS_N_PHASE in
 * the attributes), the n-phase callback and ha_gs_vote (APPROVE, CONTINUE,
 * REJECT), multi-phase protocols, summary codes in the approved and rejected
 * callbacks, and an n-phase ha_gs_change_state_value.
 *
 * Usage: voter [-n COUNT] [--reject-state VALUE] [--propose VALUE] GROUP INSTANCE
 *   --reject-state VALUE  vote REJECT on any protocol that proposes VALUE as
 *                         the group's state.
 *   --propose VALUE       once joined, propose VALUE as the new state (n-phase,
 *                         retried on HA_GS_COLLIDE).
 *   -n COUNT              leave and exit after COUNT protocols have ended
 *                         (approved or rejected; this voter's join counts).
 *
 * Votes: REJECT if the proposed state equals the --reject-state value;
 * otherwise CONTINUE in phase 1, to show that one CONTINUE makes the protocol
 * run another phase; APPROVE in every later phase. So, unless rejected, every
 * protocol it votes in runs at least two phases.
 *
 * Runs until SIGINT/SIGTERM or COUNT protocols, then leaves the group. Exits 0
 * after leaving (or when stopped before its join was approved), 1 if its join
 * was rejected or the connection to gsd was lost, 2 on a usage or setup error.
 *
 * All providers of a group must give the same attributes: share a group with
 * the provider sample only with provider -N.
 *
 * Run (with a gsd listening on $HA_GS_SOCKET):
 *   ./voter --reject-state forbidden votes 1 &
 *   ./voter --propose forbidden -n 2 votes 2
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
static const char *reject_value;
static const char *propose_value;
static long max_protocols; /* 0 = no limit */
static long protocols;
static ha_gs_descriptor_t descriptor;
static ha_gs_token_t token;
static int joined; /* 1 approved, -1 rejected */
static int left;
static int connection_lost;
static volatile sig_atomic_t stop_requested;

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

static const char *vote_name(ha_gs_vote_value_t vote)
{
    switch (vote) {
    case HA_GS_VOTE_APPROVE:
        return "APPROVE";
    case HA_GS_VOTE_CONTINUE:
        return "CONTINUE";
    case HA_GS_VOTE_REJECT:
        return "REJECT";
    case HA_GS_NULL_VOTE:
        break;
    }
    return "NULL";
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

static void print_state(const ha_gs_state_value_t *s)
{
    unsigned int i;

    if (s == NULL)
        return;
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

static void print_proposal(ha_gs_request_t type, const ha_gs_proposal_t *p)
{
    if (p == NULL)
        return;
    if (type == HA_GS_JOIN)
        print_membership("joining", p->gs_changing_providers);
    else if (type == HA_GS_LEAVE || type == HA_GS_FAILURE_LEAVE || type == HA_GS_EXPEL ||
             type == HA_GS_CAST_OUT)
        print_membership("leaving", p->gs_changing_providers);
    print_state(p->gs_proposed_state_value);
}

static int proposes_rejected_value(const ha_gs_proposal_t *p)
{
    const ha_gs_state_value_t *s = p ? p->gs_proposed_state_value : NULL;

    return reject_value != NULL && s != NULL && s->gs_length == strlen(reject_value) &&
           memcmp(s->gs_state, reject_value, s->gs_length) == 0;
}

static void on_n_phase(const ha_gs_n_phase_notification_t *n)
{
    const ha_gs_proposal_t *p = n->gs_proposal;
    unsigned int phase = p ? p->gs_phase_info.gs_phase_number : 0u;
    ha_gs_vote_value_t vote;
    ha_gs_rc_t rc;

    if (proposes_rejected_value(p))
        vote = HA_GS_VOTE_REJECT;
    else if (phase == 1)
        vote = HA_GS_VOTE_CONTINUE;
    else
        vote = HA_GS_VOTE_APPROVE;

    printf("voter %d: %s phase %u (vote within %d s):", instance,
           protocol_name(n->gs_protocol_type), phase, n->gs_time_limit);
    print_proposal(n->gs_protocol_type, p);
    printf(" -> %s\n", vote_name(vote));
    rc = ha_gs_vote(n->gs_provider_token, vote, NULL, NULL, HA_GS_NULL_VOTE);
    if (rc != HA_GS_OK)
        printf("voter %d: ha_gs_vote: %s\n", instance, ha_gs_strerror(rc));
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

static void on_approved(const ha_gs_approved_notification_t *n)
{
    const ha_gs_proposal_t *p = n->gs_proposal;

    protocols++;
    printf("voter %d: %s approved after %u phase(s)", instance, protocol_name(n->gs_protocol_type),
           p ? p->gs_phase_info.gs_phase_number : 0u);
    print_summary(n->gs_summary_code);
    printf(":");
    print_proposal(n->gs_protocol_type, p);
    printf("\n");
    if (n->gs_protocol_type == HA_GS_JOIN && !joined)
        joined = 1; /* the first join we see approved is our own */
    if (n->gs_protocol_type == HA_GS_LEAVE && is_own_leave(p))
        left = 1;
}

static void on_rejected(const ha_gs_rejected_notification_t *n)
{
    const ha_gs_proposal_t *p = n->gs_proposal;

    protocols++;
    printf("voter %d: %s rejected after %u phase(s)", instance, protocol_name(n->gs_protocol_type),
           p ? p->gs_phase_info.gs_phase_number : 0u);
    print_summary(n->gs_summary_code);
    printf(":");
    print_proposal(n->gs_protocol_type, p);
    printf("\n");
    if (n->gs_protocol_type == HA_GS_JOIN && !joined)
        joined = -1;
}

static void on_announcement(const ha_gs_announcement_notification_t *n)
{
    printf("voter %d: announcement", instance);
    print_summary(n->gs_summary_code);
    print_membership("providers", n->gs_announcement);
    printf("\n");
}

static void pump(int timeout_ms)
{
    struct pollfd pfd;
    int n;

    pfd.fd = descriptor;
    pfd.events = POLLIN;
    pfd.revents = 0;
    n = poll(&pfd, 1, timeout_ms);
    if (n < 0 && errno != EINTR) {
        perror("voter: poll");
        connection_lost = 1;
        return;
    }
    if (n > 0 && ha_gs_dispatch(HA_GS_NON_BLOCKING) != HA_GS_OK) {
        printf("voter %d: lost the connection to gsd\n", instance);
        connection_lost = 1;
    }
}

/* Proposes the --propose value; 1 when accepted, 0 to try again later. */
static int propose(void)
{
    ha_gs_state_value_t state;
    ha_gs_proposal_info_t request;
    ha_gs_rc_t rc;

    state.gs_length = (unsigned int)strlen(propose_value);
    state.gs_state = (char *)propose_value;
    memset(&request, 0, sizeof request);
    request.gs_state_change_request.gs_num_phases = HA_GS_N_PHASE;
    request.gs_state_change_request.gs_time_limit = 10;
    request.gs_state_change_request.gs_new_state = &state;
    rc = ha_gs_change_state_value(token, &request);
    if (rc == HA_GS_COLLIDE)
        return 0;
    if (rc == HA_GS_OK)
        printf("voter %d: proposed state \"%s\" (n-phase)\n", instance, propose_value);
    else
        printf("voter %d: ha_gs_change_state_value: %s\n", instance, ha_gs_strerror(rc));
    return 1;
}

static void leave_group(void)
{
    ha_gs_proposal_info_t request;
    ha_gs_rc_t rc;

    memset(&request, 0, sizeof request);
    request.gs_leave_request.gs_num_phases = HA_GS_1_PHASE;
    request.gs_leave_request.gs_time_limit = 10;
    for (;;) {
        rc = ha_gs_leave(token, &request);
        if (rc != HA_GS_COLLIDE)
            break;
        pump(100); /* a protocol runs: keep voting in it, then retry */
        if (connection_lost)
            return;
    }
    if (rc != HA_GS_OK) {
        printf("voter %d: ha_gs_leave: %s\n", instance, ha_gs_strerror(rc));
        return;
    }
    while (!left && !connection_lost)
        pump(1000);
    if (left)
        printf("voter %d: left group %s\n", instance, group_name);
}

static int usage(void)
{
    fprintf(stderr, "usage: voter [-n COUNT] [--reject-state VALUE] [--propose VALUE] "
                    "GROUP INSTANCE\n");
    return 2;
}

int main(int argc, char **argv)
{
    static ha_gs_group_attributes_t attributes;
    ha_gs_proposal_info_t request;
    struct sigaction sa;
    int proposed = 0;
    ha_gs_rc_t rc;
    char *end;
    int i;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            max_protocols = strtol(argv[++i], &end, 10);
            if (*end != '\0' || max_protocols <= 0)
                return usage();
        } else if (strcmp(argv[i], "--reject-state") == 0 && i + 1 < argc) {
            reject_value = argv[++i];
        } else if (strcmp(argv[i], "--propose") == 0 && i + 1 < argc) {
            propose_value = argv[++i];
        } else {
            return usage();
        }
    }
    if (argc - i != 2)
        return usage();
    group_name = argv[i];
    instance = (int)strtol(argv[i + 1], &end, 10);
    if (*end != '\0' || instance < 0 || instance > 32767)
        return usage();

    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    rc = ha_gs_init(&descriptor, HA_GS_SOCKET_NO_SIGNAL, NULL, NULL, NULL, NULL, NULL);
    if (rc == HA_GS_OK)
        rc = ha_gs_get_node_number(&node_number);
    if (rc != HA_GS_OK) {
        fprintf(stderr, "voter: cannot connect to gsd: %s\n", ha_gs_strerror(rc));
        ha_gs_quit();
        return 2;
    }

    /* Joins (and failure leaves) of this group are voted on, in up to
     * 10 seconds per phase; a provider that does not vote in time gets the
     * group's default vote, APPROVE. */
    attributes.gs_version = 1;
    attributes.gs_sizeof_group_attributes = sizeof attributes;
    attributes.gs_batch_control = HA_GS_NO_BATCHING;
    attributes.gs_num_phases = HA_GS_N_PHASE;
    attributes.gs_group_default_vote = HA_GS_VOTE_APPROVE;
    attributes.gs_time_limit = 10;
    attributes.gs_group_name = group_name;

    memset(&request, 0, sizeof request);
    request.gs_join_request.gs_group_attributes = &attributes;
    request.gs_join_request.gs_provider_instance = (short)instance;
    request.gs_join_request.gs_provider_local_name = "voter sample";
    request.gs_join_request.gs_n_phase_protocol_callback = on_n_phase;
    request.gs_join_request.gs_protocol_approved_callback = on_approved;
    request.gs_join_request.gs_protocol_rejected_callback = on_rejected;
    request.gs_join_request.gs_announcement_callback = on_announcement;
    rc = ha_gs_join(&token, &request);
    if (rc != HA_GS_OK) {
        fprintf(stderr, "voter: ha_gs_join: %s\n", ha_gs_strerror(rc));
        ha_gs_quit();
        return 2;
    }
    printf("voter %d: joining group %s (n-phase)%s%s\n", instance, group_name,
           reject_value ? ", rejecting state " : "", reject_value ? reject_value : "");

    while (!stop_requested && !connection_lost && joined >= 0 &&
           (max_protocols == 0 || protocols < max_protocols)) {
        if (joined == 1 && propose_value != NULL && !proposed) {
            proposed = propose();
            pump(proposed ? 1000 : 100);
        } else {
            pump(1000);
        }
    }

    if (joined == 1 && !connection_lost)
        leave_group();
    ha_gs_quit();
    return (joined < 0 || connection_lost) ? 1 : 0;
}
