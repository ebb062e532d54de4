/* SPDX-License-Identifier: MIT */
/*
 * chaos_client - one client process of the chaos test (see docs/testing.md).
 *
 * Uses only the public API (ha_gs.h); built twice, as chaos_client with
 * libha_gs and as chaos_client_r with libha_gs_r (used from one thread, so
 * the same code exercises the thread-safe library's locking). Seeded: the same
 * seed makes the same choices (what it receives still depends on the others).
 * It joins its groups as a provider and/or subscribes to them, and at random
 * leaves, says goodbye, expels, changes the state, sends messages, quits and
 * re-initializes, and votes in n-phase protocols (APPROVE, CONTINUE, REJECT,
 * sometimes late or never when the phase has a time limit). When gsd goes away
 * it notes how it was told and calls ha_gs_init until a gsd answers again.
 *
 * Every call and every callback is one JSON line in the log (see
 * tests/chaos/checker.py for the fields the checker reads). Times are
 * CLOCK_MONOTONIC microseconds, comparable between processes. To keep the log
 * short, non-blocking ha_gs_dispatch calls that return HA_GS_OK within 50 ms
 * are summarized once a second ("dstat": their count and longest duration).
 *
 * Values it proposes are unique in the whole run: states "s<id>.<n>", vote
 * states "v<id>.<n>", messages "m<id>.<n>", expel flags "x<id>.<n>", leave
 * codes id*100000+n; provider instance numbers are id*32 + k for its k-th join
 * (k < 32: after 32 joins the client logs "retire" and exits 0, and the
 * driver starts another client with a new id). The checker relies on this to
 * tell changes apart.
 *
 * Usage: chaos_client --id N --seed S --groups I,J,.. --role provider|subscriber|mixed
 *                     --log FILE
 * Group I is "chaos-g<I>"; its attributes follow from I (attrsFor below), so
 * every joiner of a group gives the same ones. SIGTERM: quit and exit 0.
 */
#include <ha_gs.h>

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <map>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

volatile std::sig_atomic_t stopRequested = 0;

void onSignal(int)
{
    stopRequested = 1;
}

int64_t nowUs()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

/* ---- JSON lines -------------------------------------------------------- */

std::string quote(const char *data, size_t length)
{
    std::string out = "\"";
    for (size_t i = 0; i < length; ++i) {
        const auto c = static_cast<unsigned char>(data[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

std::string quote(const std::string &s)
{
    return quote(s.data(), s.size());
}

/* Builds one JSON object; keys are written in call order. */
class Line {
  public:
    explicit Line(const char *event)
        : text_("{\"ev\":" + quote(event, std::strlen(event))), head_(text_.size())
    {
    }
    Line &num(const char *key, int64_t value) { return raw(key, std::to_string(value)); }
    Line &str(const char *key, const std::string &value) { return raw(key, quote(value)); }
    Line &raw(const char *key, const std::string &json)
    {
        text_ += ",\"";
        text_ += key;
        text_ += "\":";
        text_ += json;
        return *this;
    }
    /* Appends the fields of `other` (not its event). */
    Line &merge(const Line &other)
    {
        text_.append(other.text_, other.head_);
        return *this;
    }
    std::string done() const { return text_ + "}\n"; }

  private:
    std::string text_;
    size_t head_;
};

int logFd = -1;

void emit(const Line &line)
{
    const std::string text = line.done();
    /* One write per line (O_APPEND): a SIGKILL never leaves half a line. */
    ssize_t n = write(logFd, text.data(), text.size());
    (void)n;
}

std::string providerId(const ha_gs_provider_t &p)
{
    return std::to_string(p.gs_instance_number) + "." + std::to_string(p.gs_node_number);
}

std::string members(const ha_gs_membership_t *m)
{
    if (!m)
        return "null";
    std::string out = "[";
    for (unsigned i = 0; i < m->gs_count; ++i) {
        if (i)
            out += ",";
        out += quote(providerId(m->gs_providers[i]));
    }
    return out + "]";
}

std::string stateJson(const ha_gs_state_value_t *s)
{
    return s ? quote(s->gs_state ? s->gs_state : "", s->gs_state ? s->gs_length : 0) : "null";
}

std::string messageJson(const ha_gs_provider_message_t *m)
{
    return m ? quote(m->gs_message ? m->gs_message : "", m->gs_message ? m->gs_length : 0) : "null";
}

void addProposal(Line &line, const ha_gs_proposal_t *p)
{
    if (!p)
        return;
    line.num("phase", p->gs_phase_info.gs_phase_number);
    line.num("nphases", p->gs_phase_info.gs_num_phases);
    line.raw("cur", members(p->gs_current_providers));
    line.raw("chg", members(p->gs_changing_providers));
    line.raw("old", stateJson(p->gs_old_state_value));
    line.raw("new", stateJson(p->gs_proposed_state_value));
    line.raw("msg", messageJson(p->gs_provider_message));
    if (p->gs_leave_info && p->gs_changing_providers) {
        std::string out = "[";
        for (unsigned i = 0; i < p->gs_changing_providers->gs_count; ++i) {
            if (i)
                out += ",";
            out += "[" + std::to_string(p->gs_leave_info[i].gs_leave_code) + "," +
                   std::to_string(p->gs_leave_info[i].gs_leave_reason) + "]";
        }
        line.raw("leave", out + "]");
    }
    if (p->gs_expel_info)
        line.str("xflag",
                 p->gs_expel_info->gs_deactivate_flag ? p->gs_expel_info->gs_deactivate_flag : "");
}

/* ---- Client state ------------------------------------------------------ */

struct PendingVote {
    int64_t at = 0;
    ha_gs_vote_value_t value = HA_GS_VOTE_APPROVE;
    std::string state; /* attached state value; empty = none */
    ha_gs_vote_value_t defaultVote = HA_GS_NULL_VOTE;
    unsigned phase = 0;
};

struct Group {
    int index = 0;
    std::string name;
    ha_gs_group_attributes_t attrs{};
    ha_gs_token_t ptok = 0; /* provider token, 0 = none */
    bool member = false;    /* join approved */
    int instance = -1;
    std::vector<ha_gs_provider_t> view; /* membership after the last approved protocol */
    bool votePending = false;
    PendingVote vote;
    ha_gs_token_t stok = 0; /* subscriber token, 0 = none */
};

int clientId = 0;
std::mt19937_64 rng;
std::vector<Group> groups;
std::string role = "mixed";
ha_gs_descriptor_t descriptor = -1;
bool inited = false;
bool lost = false; /* a call or dispatch said HA_GS_NOT_OK */
int64_t session = 0;
int64_t counter = 0;
int64_t joins = 0;

/* dispatch statistics since the last "dstat" line */
int64_t dispatchCount = 0;
int64_t dispatchMaxUs = 0;
int64_t dispatchMaxAt = 0;
int64_t dstatAt = 0;

double uniform()
{
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

int pick(int n)
{
    return static_cast<int>(std::uniform_int_distribution<int>(0, n - 1)(rng));
}

std::string nonce(const char *prefix)
{
    return prefix + std::to_string(clientId) + "." + std::to_string(++counter);
}

Group *byProviderToken(ha_gs_token_t t)
{
    for (auto &g : groups)
        if (g.ptok == t && t != 0)
            return &g;
    return nullptr;
}

Group *bySubscriberToken(ha_gs_token_t t)
{
    for (auto &g : groups)
        if (g.stok == t && t != 0)
            return &g;
    return nullptr;
}

const char *groupOf(ha_gs_token_t t)
{
    if (Group *g = byProviderToken(t))
        return g->name.c_str();
    if (Group *g = bySubscriberToken(t))
        return g->name.c_str();
    return "?";
}

bool contains(const ha_gs_membership_t *m, int instance)
{
    if (!m)
        return false;
    for (unsigned i = 0; i < m->gs_count; ++i)
        if (m->gs_providers[i].gs_instance_number == instance)
            return true;
    return false;
}

/* Logs a call: fn, group, token, rc, start and end times, session, and the
 * fields of `extra`. */
void logCall(const char *fn, const Group *g, ha_gs_token_t tok, int rc, int64_t t0, int64_t t1,
             const Line &extra = Line(""))
{
    Line line("call");
    line.str("fn", fn).str("g", g ? g->name : "").num("tok", tok).num("rc", rc);
    line.num("t0", t0).num("t1", t1).num("sess", session);
    emit(line.merge(extra));
    if (rc == HA_GS_NOT_OK)
        lost = true;
}

/* ---- Callbacks --------------------------------------------------------- */

void scheduleVote(Group &g, const ha_gs_n_phase_notification_t *n)
{
    const unsigned phase = n->gs_proposal ? n->gs_proposal->gs_phase_info.gs_phase_number : 1;
    const bool limited = n->gs_time_limit > 0 && n->gs_time_limit < HA_GS_TIME_LIMIT_CEILING;
    /* Without a real time limit the protocol waits for us: always vote, soon. */
    if (limited && uniform() < 0.10) {
        emit(Line("novote")
                 .str("g", g.name)
                 .num("tok", g.ptok)
                 .num("phase", phase)
                 .num("t", nowUs()));
        return;
    }
    PendingVote v;
    v.phase = phase;
    const double r = uniform();
    if (r < 0.08)
        v.value = HA_GS_VOTE_REJECT;
    else if (r < 0.30 && phase < 3)
        v.value = HA_GS_VOTE_CONTINUE;
    else
        v.value = HA_GS_VOTE_APPROVE;
    if (uniform() < 0.05)
        v.state = nonce("v");
    if (uniform() < 0.10)
        v.defaultVote = uniform() < 0.5 ? HA_GS_VOTE_APPROVE : HA_GS_VOTE_REJECT;
    int64_t delayMs = pick(300);
    if (limited && uniform() < 0.04)
        delayMs = n->gs_time_limit * 1000 + 300; /* late on purpose */
    v.at = nowUs() + delayMs * 1000;
    g.vote = v;
    g.votePending = true;
}

void castVote(Group &g)
{
    g.votePending = false;
    ha_gs_state_value_t sv{};
    std::string state = g.vote.state;
    sv.gs_length = static_cast<unsigned>(state.size());
    sv.gs_state = state.data();
    const int64_t t0 = nowUs();
    const int rc = ha_gs_vote(g.ptok, g.vote.value, state.empty() ? nullptr : &sv, nullptr,
                              g.vote.defaultVote);
    Line extra("");
    extra.num("vote", g.vote.value).num("dvote", g.vote.defaultVote).num("phase", g.vote.phase);
    if (!state.empty())
        extra.str("vstate", state);
    logCall("vote", &g, g.ptok, rc, t0, nowUs(), extra);
}

void onNPhase(const ha_gs_n_phase_notification_t *n)
{
    Group *g = byProviderToken(n->gs_provider_token);
    Line line("nphase");
    line.str("g", g ? g->name : "?").num("tok", n->gs_provider_token).num("t", nowUs());
    line.num("proto", n->gs_protocol_type).num("summary", n->gs_summary_code);
    line.num("tl", n->gs_time_limit).num("sess", session);
    addProposal(line, n->gs_proposal);
    emit(line);
    if (!g)
        return;
    scheduleVote(*g, n);
    if (g->votePending && g->vote.at <= nowUs() + 20000)
        castVote(*g); /* vote inside the callback, as the API allows */
}

void endOfMembership(Group &g)
{
    g.ptok = 0;
    g.member = false;
    g.votePending = false;
    g.view.clear();
}

void onApproved(const ha_gs_approved_notification_t *n)
{
    Group *g = byProviderToken(n->gs_provider_token);
    Line line("approved");
    line.str("g", g ? g->name : "?").num("tok", n->gs_provider_token).num("t", nowUs());
    line.num("proto", n->gs_protocol_type).num("summary", n->gs_summary_code);
    line.num("sess", session);
    addProposal(line, n->gs_proposal);
    emit(line);
    if (!g)
        return;
    g->votePending = false;
    const ha_gs_proposal_t *p = n->gs_proposal;
    const ha_gs_membership_t *chg = p ? p->gs_changing_providers : nullptr;
    /* An approved notification carries the membership in force after it. */
    const ha_gs_membership_t *cur = p ? p->gs_current_providers : nullptr;
    std::vector<ha_gs_provider_t> after;
    if (cur)
        after.assign(cur->gs_providers, cur->gs_providers + cur->gs_count);
    const ha_gs_request_t type = n->gs_protocol_type;
    if (type == HA_GS_JOIN) {
        if (contains(chg, g->instance))
            g->member = true;
    } else if (type == HA_GS_LEAVE || type == HA_GS_FAILURE_LEAVE || type == HA_GS_EXPEL ||
               type == HA_GS_CAST_OUT) {
        if (contains(chg, g->instance)) {
            endOfMembership(*g);
            return;
        }
    }
    g->view = after;
}

void onRejected(const ha_gs_rejected_notification_t *n)
{
    Group *g = byProviderToken(n->gs_provider_token);
    Line line("rejected");
    line.str("g", g ? g->name : "?").num("tok", n->gs_provider_token).num("t", nowUs());
    line.num("proto", n->gs_protocol_type).num("summary", n->gs_summary_code);
    line.num("sess", session);
    addProposal(line, n->gs_proposal);
    emit(line);
    if (!g)
        return;
    g->votePending = false;
    if (n->gs_protocol_type == HA_GS_JOIN && n->gs_proposal &&
        contains(n->gs_proposal->gs_changing_providers, g->instance))
        endOfMembership(*g);
}

void onAnnouncement(const ha_gs_announcement_notification_t *n)
{
    Line line("announce");
    line.str("g", groupOf(n->gs_provider_token)).num("tok", n->gs_provider_token);
    line.num("t", nowUs()).num("summary", n->gs_summary_code).num("sess", session);
    line.raw("who", members(n->gs_announcement));
    emit(line);
}

void onSubscription(const ha_gs_subscription_notification_t *n)
{
    Group *g = bySubscriberToken(n->gs_subscriber_token);
    Line line("sub");
    line.str("g", g ? g->name : "?").num("tok", n->gs_subscriber_token).num("t", nowUs());
    line.num("type", n->gs_subscription_type).num("sess", session);
    if (n->gs_subscription_type & HA_GS_SUBSCRIPTION_STATE)
        line.raw("state", stateJson(n->gs_state_value));
    if (n->gs_subscription_type & HA_GS_SUBSCRIPTION_MEMBERSHIP)
        line.raw("full", members(n->gs_full_membership));
    if (n->gs_subscription_type & (HA_GS_SUBSCRIPTION_DELTA_JOIN | HA_GS_SUBSCRIPTION_DELTA_LEAVE))
        line.raw("chg", members(n->gs_changing_membership));
    emit(line);
    if (g &&
        (n->gs_subscription_type & (HA_GS_SUBSCRIPTION_DISSOLVED | HA_GS_SUBSCRIPTION_GS_HAS_DIED)))
        g->stok = 0;
}

void onDelayedError(const ha_gs_delayed_error_notification_t *n)
{
    Group *g = bySubscriberToken(n->gs_request_token);
    Line line("delayed");
    line.str("g", g ? g->name : "?").num("tok", n->gs_request_token).num("t", nowUs());
    line.num("proto", n->gs_protocol_type).num("rc", n->gs_delayed_return_code);
    line.num("sess", session);
    emit(line);
    if (g)
        g->stok = 0;
}

/* ---- Actions ----------------------------------------------------------- */

ha_gs_group_attributes_t attrsFor(int index, const char *name)
{
    ha_gs_group_attributes_t a{};
    a.gs_version = 1;
    a.gs_sizeof_group_attributes = sizeof a;
    a.gs_group_name = name;
    switch (index % 4) {
    case 0: /* one-phase joins and failure leaves */
        a.gs_num_phases = HA_GS_1_PHASE;
        break;
    case 1:
        a.gs_num_phases = HA_GS_N_PHASE;
        a.gs_time_limit = 2;
        a.gs_group_default_vote = HA_GS_VOTE_APPROVE;
        break;
    case 2: /* no time limit: the voters are the only bound */
        a.gs_num_phases = HA_GS_N_PHASE;
        a.gs_batch_control = HA_GS_BATCH_BOTH;
        break;
    default:
        a.gs_num_phases = HA_GS_N_PHASE;
        a.gs_time_limit = 1;
        a.gs_group_default_vote = HA_GS_VOTE_REJECT;
        a.gs_batch_control = HA_GS_BATCH_JOINS;
        break;
    }
    return a;
}

void randomPhases(ha_gs_num_phases_t &phases, ha_gs_time_limit_t &limit)
{
    phases = uniform() < 0.4 ? HA_GS_1_PHASE : HA_GS_N_PHASE;
    static const ha_gs_time_limit_t limits[] = {0, 1, 2, 3};
    limit = limits[pick(4)];
}

void doJoin(Group &g)
{
    g.instance = clientId * 32 + static_cast<int>(joins++);
    ha_gs_proposal_info_t info{};
    auto &r = info.gs_join_request;
    r.gs_group_attributes = &g.attrs;
    r.gs_provider_instance = static_cast<short>(g.instance);
    r.gs_provider_local_name = "chaos";
    r.gs_n_phase_protocol_callback = onNPhase;
    r.gs_protocol_approved_callback = onApproved;
    r.gs_protocol_rejected_callback = onRejected;
    r.gs_announcement_callback = onAnnouncement;
    ha_gs_token_t tok = 0;
    const int64_t t0 = nowUs();
    const int rc = ha_gs_join(&tok, &info);
    if (rc == HA_GS_OK)
        g.ptok = tok;
    logCall("join", &g, tok, rc, t0, nowUs(), Line("").num("inst", g.instance));
}

void doLeave(Group &g)
{
    ha_gs_proposal_info_t info{};
    auto &r = info.gs_leave_request;
    randomPhases(r.gs_num_phases, r.gs_time_limit);
    r.gs_leave_code = static_cast<unsigned>(clientId * 100000 + (++counter % 100000));
    const int64_t t0 = nowUs();
    const int rc = ha_gs_leave(g.ptok, &info);
    logCall("leave", &g, g.ptok, rc, t0, nowUs(),
            Line("")
                .num("nph", r.gs_num_phases)
                .num("tl", r.gs_time_limit)
                .num("code", r.gs_leave_code));
}

void doGoodbye(Group &g)
{
    const int64_t t0 = nowUs();
    const ha_gs_token_t tok = g.ptok;
    const int rc = ha_gs_goodbye(tok);
    if (rc == HA_GS_OK)
        endOfMembership(g);
    logCall("goodbye", &g, tok, rc, t0, nowUs());
}

void doExpel(Group &g)
{
    std::vector<ha_gs_provider_t> others;
    for (const auto &m : g.view)
        if (m.gs_instance_number != g.instance || uniform() < 0.1)
            others.push_back(m);
    if (others.empty())
        return;
    ha_gs_provider_t victim = others[static_cast<size_t>(pick(static_cast<int>(others.size())))];
    ha_gs_proposal_info_t info{};
    auto &r = info.gs_expel_request;
    randomPhases(r.gs_num_phases, r.gs_time_limit);
    r.gs_expel_list.gs_count = 1;
    r.gs_expel_list.gs_providers = &victim;
    const std::string flag = nonce("x");
    r.gs_deactivate_flag = flag.c_str();
    const int64_t t0 = nowUs();
    const int rc = ha_gs_expel(g.ptok, &info);
    logCall("expel", &g, g.ptok, rc, t0, nowUs(),
            Line("")
                .num("nph", r.gs_num_phases)
                .num("tl", r.gs_time_limit)
                .str("who", providerId(victim))
                .str("xflag", flag));
}

void doState(Group &g)
{
    ha_gs_proposal_info_t info{};
    auto &r = info.gs_state_change_request;
    randomPhases(r.gs_num_phases, r.gs_time_limit);
    std::string value = nonce("s");
    ha_gs_state_value_t sv{static_cast<unsigned>(value.size()), value.data()};
    r.gs_new_state = &sv;
    const int64_t t0 = nowUs();
    const int rc = ha_gs_change_state_value(g.ptok, &info);
    logCall("state", &g, g.ptok, rc, t0, nowUs(),
            Line("").num("nph", r.gs_num_phases).num("tl", r.gs_time_limit).str("value", value));
}

void doMessage(Group &g)
{
    ha_gs_proposal_info_t info{};
    auto &r = info.gs_message_request;
    randomPhases(r.gs_num_phases, r.gs_time_limit);
    std::string text = nonce("m");
    ha_gs_provider_message_t m{static_cast<unsigned>(text.size()), text.data()};
    r.gs_message = &m;
    const int64_t t0 = nowUs();
    const int rc = ha_gs_send_message(g.ptok, &info);
    logCall("msg", &g, g.ptok, rc, t0, nowUs(),
            Line("").num("nph", r.gs_num_phases).num("tl", r.gs_time_limit).str("value", text));
}

void doSubscribe(Group &g)
{
    ha_gs_proposal_info_t info{};
    auto &r = info.gs_subscribe_request;
    /* Mostly every flag; else a combination that still gives a first
     * notification (STATE, DELTA_JOIN or MEMBERSHIP in it). */
    static const ha_gs_subscription_ctrl_t controls[] = {
        HA_GS_SUBSCRIBE_ALL_MEMBERSHIP | HA_GS_SUBSCRIBE_STATE,
        HA_GS_SUBSCRIBE_ALL_MEMBERSHIP | HA_GS_SUBSCRIBE_STATE,
        HA_GS_SUBSCRIBE_ALL_MEMBERSHIP | HA_GS_SUBSCRIBE_STATE,
        HA_GS_SUBSCRIBE_STATE,
        HA_GS_SUBSCRIBE_DELTA_JOIN | HA_GS_SUBSCRIBE_DELTA_LEAVE,
        HA_GS_SUBSCRIBE_MEMBERSHIP,
        HA_GS_SUBSCRIBE_DELTA_JOIN | HA_GS_SUBSCRIBE_STATE,
        HA_GS_SUBSCRIBE_MEMBERSHIP | HA_GS_SUBSCRIBE_DELTA_LEAVE | HA_GS_SUBSCRIBE_STATE,
    };
    r.gs_subscription_control = controls[pick(8)];
    r.gs_subscription_group = g.name.c_str();
    r.gs_subscription_callback = onSubscription;
    ha_gs_token_t tok = 0;
    const int64_t t0 = nowUs();
    const int rc = ha_gs_subscribe(&tok, &info);
    if (rc == HA_GS_OK)
        g.stok = tok;
    logCall("subscribe", &g, tok, rc, t0, nowUs(),
            Line("").num("ctl", static_cast<int64_t>(r.gs_subscription_control)));
}

void doUnsubscribe(Group &g)
{
    const ha_gs_token_t tok = g.stok;
    const int64_t t0 = nowUs();
    const int rc = ha_gs_unsubscribe(tok);
    if (rc == HA_GS_OK)
        g.stok = 0;
    logCall("unsubscribe", &g, tok, rc, t0, nowUs());
}

void resetGroups()
{
    for (auto &g : groups) {
        endOfMembership(g);
        g.stok = 0;
    }
}

void doQuit(const char *why)
{
    const int64_t t0 = nowUs();
    ha_gs_quit();
    logCall("quit", nullptr, 0, HA_GS_OK, t0, nowUs(), Line("").str("why", why));
    inited = false;
    lost = false;
    resetGroups();
}

void tryInit()
{
    const int64_t t0 = nowUs();
    const int rc = ha_gs_init(&descriptor, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr,
                              onDelayedError, nullptr);
    const int64_t t1 = nowUs();
    if (rc == HA_GS_OK) {
        inited = true;
        lost = false;
        ++session;
    }
    logCall("init", nullptr, 0, rc, t0, t1);
}

void randomAction()
{
    Group &g = groups[static_cast<size_t>(pick(static_cast<int>(groups.size())))];
    const bool provider = role != "subscriber";
    const bool subscriber = role != "provider";
    const double r = uniform();
    if (subscriber && g.stok == 0 && (r < 0.5 || !provider)) {
        doSubscribe(g);
        return;
    }
    if (subscriber && g.stok != 0 && r < 0.02) {
        doUnsubscribe(g);
        return;
    }
    if (!provider)
        return;
    if (g.ptok == 0) {
        if (r < 0.25 && joins < 32)
            doJoin(g);
        return;
    }
    if (!g.member) {
        if (r < 0.02)
            doGoodbye(g); /* withdraws the pending join */
        return;
    }
    if (r < 0.06)
        doLeave(g);
    else if (r < 0.08)
        doGoodbye(g);
    else if (r < 0.13)
        doExpel(g);
    else if (r < 0.43)
        doState(g);
    else if (r < 0.63)
        doMessage(g);
}

void dispatchOnce()
{
    const int64_t t0 = nowUs();
    const int rc = ha_gs_dispatch(HA_GS_NON_BLOCKING);
    const int64_t t1 = nowUs();
    ++dispatchCount;
    if (t1 - t0 > dispatchMaxUs) {
        dispatchMaxUs = t1 - t0;
        dispatchMaxAt = t0;
    }
    if (rc != HA_GS_OK || t1 - t0 > 50000)
        logCall("dispatch", nullptr, 0, rc, t0, t1);
    if (rc != HA_GS_OK)
        lost = true;
}

void flushDispatchStats(bool force)
{
    const int64_t now = nowUs();
    if (!force && now - dstatAt < 1000000)
        return;
    if (dispatchCount > 0)
        emit(Line("dstat")
                 .num("n", dispatchCount)
                 .num("max", dispatchMaxUs)
                 .num("at", dispatchMaxAt));
    dispatchCount = 0;
    dispatchMaxUs = 0;
    dstatAt = now;
}

int run()
{
    int64_t nextAction = nowUs();
    while (!stopRequested) {
        flushDispatchStats(false);
        if (!inited) {
            tryInit();
            if (!inited) {
                usleep(static_cast<useconds_t>(50000 + pick(150000)));
                continue;
            }
        }
        if (lost) {
            /* Collect what the library still delivers (GS_HAS_DIED), then start
             * over with a new session. */
            dispatchOnce();
            doQuit("lost");
            continue;
        }
        int64_t wake = nextAction;
        for (const auto &g : groups)
            if (g.votePending)
                wake = std::min(wake, g.vote.at);
        /* Rounded up: a poll of 0 ms would spin through the last millisecond. */
        const int64_t waitMs = std::max<int64_t>(0, (wake - nowUs() + 999) / 1000);
        pollfd pfd{descriptor, POLLIN, 0};
        poll(&pfd, 1, static_cast<int>(std::min<int64_t>(waitMs, 50)));
        dispatchOnce();
        if (lost)
            continue;
        const int64_t now = nowUs();
        for (auto &g : groups)
            if (g.votePending && g.vote.at <= now && !lost)
                castVote(g);
        if (lost || now < nextAction)
            continue;
        nextAction = now + 10000 + pick(60000);
        if (joins >= 32 &&
            std::none_of(groups.begin(), groups.end(), [](const Group &g) { return g.ptok != 0; }))
            break; /* retire: no instance numbers left */
        if (uniform() < 0.002)
            doQuit("random");
        else
            randomAction();
    }
    flushDispatchStats(true);
    if (inited)
        doQuit(stopRequested ? "end" : "retire");
    emit(Line("end").num("t", nowUs()).num("retired", stopRequested ? 0 : 1));
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    std::string logPath;
    std::string groupList;
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string key = argv[i];
        const std::string value = argv[i + 1];
        if (key == "--id")
            clientId = std::atoi(value.c_str());
        else if (key == "--seed")
            seed = std::strtoull(value.c_str(), nullptr, 10);
        else if (key == "--groups")
            groupList = value;
        else if (key == "--role")
            role = value;
        else if (key == "--log")
            logPath = value;
        else {
            std::fprintf(stderr, "chaos_client: unknown option %s\n", key.c_str());
            return 2;
        }
    }
    if (logPath.empty() || groupList.empty() || clientId <= 0 || clientId >= 1024) {
        std::fprintf(stderr, "usage: chaos_client --id 1..1023 --seed S --groups I,J "
                             "--role provider|subscriber|mixed --log FILE\n");
        return 2;
    }
    logFd = open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logFd < 0) {
        std::fprintf(stderr, "chaos_client: %s: %s\n", logPath.c_str(), std::strerror(errno));
        return 2;
    }
    rng.seed(seed);
    size_t pos = 0;
    while (pos <= groupList.size()) {
        size_t comma = groupList.find(',', pos);
        if (comma == std::string::npos)
            comma = groupList.size();
        Group g;
        g.index = std::atoi(groupList.substr(pos, comma - pos).c_str());
        g.name = "chaos-g" + std::to_string(g.index);
        groups.push_back(g);
        pos = comma + 1;
    }
    /* Names are stable now: point the attributes at them. */
    for (auto &g : groups)
        g.attrs = attrsFor(g.index, g.name.c_str());
    struct sigaction sa {};
    sa.sa_handler = onSignal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    emit(Line("start")
             .num("id", clientId)
             .str("seed", std::to_string(seed))
             .str("role", role)
             .num("pid", getpid())
             .num("t", nowUs()));
    return run();
}
