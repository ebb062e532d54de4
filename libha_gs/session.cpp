/* SPDX-License-Identifier: MIT */
#include "libha_gs/session.hpp"
#include "common/overloaded.hpp"

#include "client/link.hpp"
#include "common/endpoint.hpp"
#include "libha_gs/adapter.hpp"
#include "libha_gs/notification_builder.hpp"
#include "libha_gs/wire_ranges.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

namespace gs::client {

namespace {

/* Every session has its own context, so a fixed inproc name cannot clash. */
constexpr const char *kMonitorEndpoint = "inproc://ha_gs.monitor";

ha_gs_rc_t createFailure(int error)
{
    return error == ENOMEM ? HA_GS_NO_MEMORY : HA_GS_SOCK_CREATE_FAILED;
}

/* What `decode` returns, or nothing when it throws (the bytes do not decode)
 * or the value holds something ha_gs.h does not define (`valid`,
 * wire_ranges.hpp): a gsd that speaks garbage cannot be trusted with the
 * session. */
template <class Decode, class T = std::invoke_result_t<Decode>>
std::optional<T> decodeChecked(Decode decode, bool (*valid)(const T &))
{
    try {
        T value = decode();
        if (valid(value))
            return value;
    } catch (const std::bad_alloc &) {
        throw;
    } catch (const std::exception &) {
    }
    return std::nullopt;
}

bool addToEpoll(int epoll, int fd)
{
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0;
}

} // namespace

const std::string &Session::Queued::key() const
{
    static const std::string none;
    return entry ? entry->group() : none;
}

Session::Session(const SessionOptions &options)
    : forkGeneration_(forkGeneration()), options_(options)
{
}

Session::~Session()
{
    /* Runs only in the process that opened the session, once no thread uses
     * it any more: an abandoned session belongs to the parent and is kept
     * forever. */
    if (abandoned_)
        return;
    transport_.close();
    for (int fd : {epoll_, ready_})
        if (fd >= 0)
            ::close(fd);
}

ha_gs_rc_t Session::open(const SessionOptions &options, std::shared_ptr<Session> &out)
{
    std::shared_ptr<Session> session;
    try {
        /* The constructor creates the ZeroMQ context, which fails like any
         * other socket creation (e.g. EMFILE). */
        session.reset(new Session(options));
    } catch (const zmq::error_t &e) {
        return createFailure(e.num());
    }
    ha_gs_rc_t rc;
    {
        Lock lock(session->mutex_);
        rc = session->connect(lock);
    }
    if (rc == HA_GS_OK)
        out = std::move(session);
    return rc;
}

ha_gs_rc_t Session::connect(Lock &lock)
{
    const std::string endpoint = resolveEndpoint();
    if (!ipcPath(endpoint))
        return HA_GS_SOCK_INIT_FAILED;

    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0)
        return createFailure(errno);
    ready_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ready_ < 0)
        return createFailure(errno);
    try {
        /* Socket options and monitor: client/link.hpp. */
        if (!transport_.open(kMonitorEndpoint))
            return HA_GS_SOCK_CREATE_FAILED;
    } catch (const zmq::error_t &e) {
        return createFailure(e.num());
    }
    if (!addToEpoll(epoll_, ready_) || !transport_.watch(epoll_))
        return createFailure(errno);

    try {
        transport_.connect(endpoint);
    } catch (const zmq::error_t &e) {
        switch (e.num()) {
        case EMFILE:
        case ENFILE:
        case EMTHREAD:
            return HA_GS_SOCK_CREATE_FAILED;
        case ENOMEM:
            return HA_GS_NO_MEMORY;
        default: /* EINVAL, ENAMETOOLONG, EPROTONOSUPPORT ...: a bad endpoint */
            return HA_GS_SOCK_INIT_FAILED;
        }
    }

    wire::Hello hello;
    if (const char *domain = std::getenv("HA_DOMAIN_NAME"); domain && domain[0] != '\0')
        hello.domain = domain;
    hello.responsivenessType = options_.responsiveness.gs_responsiveness_type;
    hello.batches = true;
    hello.packs = true;
    if (hello.responsivenessType == HA_GS_PING_RESPONSIVENESS) {
        hello.responsivenessInterval = options_.responsiveness.gs_responsiveness_interval;
        hello.responsivenessTimeLimit =
            options_.responsiveness.gs_responsiveness_response_time_limit;
    }
    if (hello.responsivenessType == HA_GS_COUNTER_RESPONSIVENESS) {
        hello.responsivenessInterval = options_.responsiveness.gs_responsiveness_interval;
        hello.responsivenessTimeLimit =
            options_.responsiveness.gs_responsiveness_response_time_limit;
        hello.counterAddress =
            reinterpret_cast<uintptr_t>(options_.responsiveness.gs_counter_location);
        hello.counterLength = options_.responsiveness.gs_counter_length;
    }
    if (!options_.deactivateScript.empty())
        hello.deactivateScript = options_.deactivateScript;
    /* The DEALER queues the Hello until the connection is up; the monitor
     * tells us if it never comes up. */
    /* gsd may have refused the connection at its handshake before the Hello
     * could be queued (the refusal ends the pipe): sendLocked reads the
     * monitor event that says so (refused_). */
    if (!sendLocked(hello))
        return refused_ ? HA_GS_NOT_AUTHORIZED : HA_GS_CONNECT_FAILED;

    const Clock::time_point deadline =
        Clock::now() + std::chrono::milliseconds(HA_GS_REQUEST_TIMEOUT_MS);
    while (!welcome_ && !dead_) {
        if (Clock::now() >= deadline)
            return HA_GS_CONNECT_FAILED;
        waitLocked(lock, deadline);
    }
    if (!welcome_)
        return refused_ ? HA_GS_NOT_AUTHORIZED : HA_GS_CONNECT_FAILED;
    if (welcome_->rc != HA_GS_OK) /* one of ha_gs_rc_t: see received() */
        return static_cast<ha_gs_rc_t>(welcome_->rc);
    if (dead_)
        return HA_GS_CONNECT_FAILED;
    return HA_GS_OK;
}

bool Session::alive()
{
    Lock lock(mutex_);
    /* A lost connection may be waiting in the monitor, unread. */
    drainLocked();
    return !dead_ && !quit_;
}

bool Session::lost()
{
    Lock lock(mutex_);
    return dead_ || quit_;
}

bool Session::sendLocked(const wire::ClientMessage &message)
{
    if (!transport_.isOpen() || dead_)
        return false;
    if (!transport_.send(wire::encode(message))) {
        /* No pipe to gsd: the connection is gone, and the monitor says why
         * (a refusal at the handshake: lost() sets refused_). Its events
         * were queued before libzmq ended the pipe; closing the transport
         * (markDeadLocked) would discard them, so they are read first. */
        drainLocked();
        markDeadLocked();
        return false;
    }
    /* A send on the DEALER leaves the monitor's descriptor as it was: an
     * event waiting there still wakes the next poll. */
    drainLocked(false);
    return !dead_;
}

bool Session::drainLocked(bool monitor)
{
    return transport_.drain(*this, monitor);
}

void Session::drained(bool routed)
{
    if (routed)
        wakeLocked();
    updateReadyLocked();
}

void Session::lost(uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == kZapNotAuthorized)
        refused_ = true;
    markDeadLocked();
}

void Session::received(std::vector<zmq::message_t> &frames)
{
    /* One ZeroMQ message holds one or more frames (this session takes
     * batches, see Hello), and a frame one or more server messages (it takes
     * packs): a notification header's body is the next message of its
     * frame, or the whole next frame when the header ends its frame. */
    for (size_t i = 0; i < frames.size() && !dead_; ++i) {
        std::string_view rest = frames[i].to_string_view();
        do {
            /* A return code outside ha_gs.h would reach the application as
             * an ha_gs_rc_t. */
            std::optional<wire::ServerMessage> message = decodeChecked(
                [&] { return wire::decodeNextServerMessage(rest); }, validServerMessage);
            /* The builder's casts rely on validNoteBody. */
            std::optional<NoteBody> body;
            if (message && std::holds_alternative<wire::NoteHeader>(*message)) {
                if (rest.empty() && i + 1 < frames.size()) {
                    const std::string_view whole = frames[++i].to_string_view();
                    body =
                        decodeChecked([&] { return wire::decodeNoteBody(whole); }, validNoteBody);
                } else { /* an empty rest (no next frame either) fails */
                    body = decodeChecked([&] { return wire::decodeNextNoteBody(rest); },
                                         validNoteBody);
                }
                if (!body)
                    message.reset();
            }
            if (!message) {
                markDeadLocked();
                break;
            }
            routeLocked(std::move(*message), body);
        } while (!rest.empty() && !dead_);
    }
}

void Session::routeLocked(wire::ServerMessage message, std::optional<NoteBody> &body)
{
    std::visit(
        Overloaded{
            [&](wire::Welcome &welcome) {
                if (!welcome_)
                    welcome_ = std::move(welcome);
            },
            [&](wire::ReplyMsg &reply) { routeReplyLocked(reply); },
            [&](wire::NoteHeader &header) {
                const auto it = tokens_.find(header.token);
                if (it == tokens_.end())
                    return; /* e.g. a token forgotten by unsubscribe */
                queue_.push_back(Queued{it->second, header.token, header.final, std::move(*body)});
            },
            [&](wire::Ping &ping) {
                if (options_.responsivenessCallback)
                    queue_.push_back(Queued{nullptr, 0, false, PingNote{ping.seq}});
            },
            [&](wire::Bye &) { markDeadLocked(); },
            [&](wire::Mark &mark) { acknowledgeLocked(mark.key); },
            /* CMM messages belong to CMM sessions; gsd never sends
             * them on a GSAPI session. */
            [](wire::CmmReply &) {},
            [](wire::CmmNote &) {},
            /* Likewise admin answers, on an admin session only. */
            [](wire::AdminReply &) {},
            [](wire::AdminEvent &) {},
        },
        message);
}

void Session::acknowledgeLocked(uint64_t key)
{
    /* At once, whatever the application does with what it read: everything
     * before the mark is out of gsd's queue now (it sits in this process's
     * queue_). */
    if (!transport_.acknowledge(key))
        markDeadLocked();
}

void Session::routeReplyLocked(const wire::ReplyMsg &reply)
{
    const auto it = pending_.find(reply.id);
    if (it == pending_.end())
        return;
    Pending &pending = it->second;
    pending.reply = reply;
    if (reply.rc != HA_GS_OK)
        return;
    /* Here, not in the requesting thread: the token's first notification may
     * be routed (by any thread) before the requester runs again. */
    if (pending.registration && reply.token != 0)
        tokens_[reply.token] = pending.registration;
    if (pending.forget != 0)
        forgetTokenLocked(pending.forget);
}

void Session::forgetTokenLocked(Token token)
{
    tokens_.erase(token);
    std::erase_if(queue_, [token](const Queued &q) { return q.entry && q.token == token; });
    updateReadyLocked();
}

void Session::wakeLocked()
{
    cond_.notify_all();
    transport_.wakeLeader();
}

void Session::waitLocked(Lock &lock, Clock::time_point deadline)
{
    transport_.wait(lock, cond_, deadline, *this);
}

void Session::markDeadLocked()
{
    if (dead_)
        return;
    dead_ = true;
    if (!quit_) {
        /* Every subscription learns, once, unless it has already ended. */
        std::set<Token> ended;
        for (const Queued &q : queue_)
            if (q.final)
                ended.insert(q.token);
        for (const auto &[token, entry] : tokens_) {
            if (entry->kind() != TokenEntry::Kind::Subscriber || ended.count(token))
                continue;
            SubscriptionNote note;
            note.type = HA_GS_SUBSCRIPTION_GS_HAS_DIED;
            queue_.push_back(Queued{entry, token, true, NoteBody{note}});
        }
    }
    tokens_.clear();
    /* Deferred while a leader polls the sockets' fds. */
    transport_.close();
    wakeLocked();
    updateReadyLocked();
}

void Session::updateReadyLocked()
{
    if (ready_ < 0 || deferReady_)
        return;
    /* Readable while dispatch has work: notifications to deliver, or a dead
     * session to report (so a poll loop never sleeps on a dead gsd). */
    const bool want = !queue_.empty() || (dead_ && !quit_);
    if (want && !readySignalled_) {
        const uint64_t one = 1;
        if (::write(ready_, &one, sizeof one) == sizeof one)
            readySignalled_ = true;
    } else if (!want && readySignalled_) {
        uint64_t count;
        [[maybe_unused]] const ssize_t n = ::read(ready_, &count, sizeof count);
        readySignalled_ = false;
    }
}

ha_gs_rc_t Session::call(Request request, std::shared_ptr<const TokenEntry> registration,
                         Token *token)
{
    Token forget = 0;
    if (const auto *goodbye = std::get_if<GoodbyeRequest>(&request))
        forget = goodbye->token;
    else if (const auto *unsubscribe = std::get_if<UnsubscribeRequest>(&request))
        forget = unsubscribe->token;

    Lock lock(mutex_);
    /* No drain first: a connection lost meanwhile is noticed by the drain
     * that follows the send, and the request fails the same way. */
    if (dead_ || quit_)
        return HA_GS_NOT_OK;
    const RequestId id = ++nextRequest_;
    const wire::ClientMessage message{wire::Req{id, std::move(request)}};
    {
        Pending &pending = pending_[id];
        pending.registration = std::move(registration);
        pending.forget = forget;
    }
    /* A join or subscribe holds its group until the caller has the token:
     * the new token's first callback must not race ahead of the return. */
    const std::string held = pending_[id].registration ? pending_[id].registration->group() : "";
    if (!held.empty())
        holdGroupLocked(held);
    /* Whatever happens, the entry goes (the reply is read below or never)
     * and the group is released. */
    struct Erase {
        Session &session;
        RequestId key;
        const std::string &group;
        ~Erase()
        {
            session.pending_.erase(key);
            if (!group.empty())
                session.releaseGroupLocked(group);
        }
    } erase{*this, id, held};

    if (!sendLocked(message))
        return HA_GS_NOT_OK;
    const Clock::time_point deadline =
        Clock::now() + std::chrono::milliseconds(HA_GS_REQUEST_TIMEOUT_MS);
    for (;;) {
        const Pending &pending = pending_.at(id);
        if (pending.reply) {
            if (pending.reply->rc == HA_GS_OK && token)
                *token = pending.reply->token;
            /* One of ha_gs_rc_t: see received(). */
            return static_cast<ha_gs_rc_t>(pending.reply->rc);
        }
        if (dead_ || quit_)
            return HA_GS_NOT_OK;
        if (Clock::now() >= deadline) {
            /* gsd is alive enough to keep the connection but does not answer:
             * nothing it says later can be trusted to match. */
            markDeadLocked();
            return HA_GS_NOT_OK;
        }
        waitLocked(lock, deadline);
    }
}

Session::BusyGroup *Session::findBusyLocked(const std::string &group)
{
    for (BusyGroup &busy : busy_)
        if (busy.holders != 0 && busy.group == group)
            return &busy;
    return nullptr;
}

void Session::holdGroupLocked(const std::string &group)
{
    BusyGroup *slot = findBusyLocked(group);
    if (!slot) {
        const auto free = std::find_if(busy_.begin(), busy_.end(),
                                       [](const BusyGroup &busy) { return busy.holders == 0; });
        slot = free != busy_.end() ? &*free : &busy_.emplace_back();
        slot->group = group;
    }
    ++slot->holders;
}

void Session::releaseGroupLocked(const std::string &group)
{
    BusyGroup *busy = findBusyLocked(group);
    if (busy && --busy->holders == 0)
        wakeLocked(); /* a waiting dispatcher may take the group now */
}

std::optional<Session::Queued> Session::takeDeliverableLocked()
{
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        /* The first note of a group is the only candidate of that group: a
         * busy group's later notes wait behind the running callback. */
        if (findBusyLocked(it->key()))
            continue;
        Queued note = std::move(*it);
        if (it == queue_.begin())
            queue_.pop_front();
        else
            queue_.erase(it);
        holdGroupLocked(note.key());
        updateReadyLocked();
        return note;
    }
    return std::nullopt;
}

void Session::deliver(const Queued &q, bool &pong)
{
    NotificationBuilder build;
    if (std::holds_alternative<PingNote>(q.body)) {
        if (options_.responsivenessCallback)
            pong = options_.responsivenessCallback(build.responsiveness(options_.responsiveness)) ==
                   HA_GS_CALLBACK_OK;
        return;
    }
    const TokenEntry &entry = *q.entry;
    const bool provider = entry.kind() == TokenEntry::Kind::Provider;
    const ha_gs_join_request_t &join = entry.join();
    std::visit(Overloaded{
                   [&](const NPhaseNote &n) {
                       if (provider && join.gs_n_phase_protocol_callback)
                           join.gs_n_phase_protocol_callback(build.nPhase(q.token, n));
                   },
                   [&](const ApprovedNote &n) {
                       if (provider && join.gs_protocol_approved_callback)
                           join.gs_protocol_approved_callback(build.approved(q.token, n));
                   },
                   [&](const RejectedNote &n) {
                       if (provider && join.gs_protocol_rejected_callback)
                           join.gs_protocol_rejected_callback(build.rejected(q.token, n));
                   },
                   [&](const AnnouncementNote &n) {
                       if (provider && join.gs_announcement_callback)
                           join.gs_announcement_callback(build.announcement(q.token, n));
                   },
                   [&](const SubscriptionNote &n) {
                       const ha_gs_subscribe_request_t &s = entry.subscribe();
                       if (!provider && s.gs_subscription_callback)
                           s.gs_subscription_callback(build.subscription(q.token, n));
                   },
                   [&](const DelayedErrorNote &n) {
                       if (options_.delayedErrorCallback)
                           options_.delayedErrorCallback(
                               build.delayedError(q.token, n, entry.request()));
                   },
               },
               std::get<NoteBody>(q.body));
}

ha_gs_rc_t Session::dispatch(bool blocking)
{
    Lock lock(mutex_);
    if (quit_)
        return HA_GS_NOT_OK;
    /* While this thread holds the mutex and will deliver what it queues, the
     * ready eventfd is left alone: a notification read and delivered in one
     * go would otherwise cost a write and a read of it. It is brought up to
     * date whenever the mutex is let go (callback, wait, return). */
    struct Defer {
        Session &session;
        Lock &lock;
        Defer(Session &s, Lock &l) : session(s), lock(l) { session.deferReady_ = true; }
        ~Defer()
        {
            if (lock.owns_lock())
                session.settleReadyLocked();
        }
    } defer(*this, lock);
    drainLocked();
    for (;;) {
        if (quit_)
            return HA_GS_NOT_OK;
        if (std::optional<Queued> note = takeDeliverableLocked()) {
            const std::string &key = note->key();
            bool pong = false;
            auto finish = [&] {
                releaseGroupLocked(key);
                /* The token ends once its final callback returned; anything
                 * queued behind it is void. */
                if (note->final)
                    forgetTokenLocked(note->token);
                if (pong)
                    if (const auto *ping = std::get_if<PingNote>(&note->body))
                        sendLocked(wire::Pong{ping->seq});
                /* The group is free again: a waiting dispatcher may take it. */
                wakeLocked();
            };
            settleReadyLocked();
            lock.unlock();
            try {
                deliver(*note, pong);
            } catch (...) {
                if (!inForkedChild()) {
                    lock.lock();
                    pong = false;
                    finish();
                }
                throw;
            }
            /* A callback that forked: the child must not touch the parent's
             * session (its mutex may even be held by a thread that does not
             * exist in the child). */
            if (inForkedChild())
                return HA_GS_NOT_OK;
            lock.lock();
            deferReady_ = true;
            finish();
            continue;
        }
        if (dead_)
            return HA_GS_NOT_OK;
        if (!blocking)
            return HA_GS_OK;
        settleReadyLocked();
        waitLocked(lock, Clock::time_point::max());
        deferReady_ = true;
    }
}

void Session::settleReadyLocked()
{
    deferReady_ = false;
    updateReadyLocked();
}

void Session::quit()
{
    Lock lock(mutex_);
    if (quit_)
        return;
    quit_ = true;
    if (!dead_)
        transport_.sayQuit();
    queue_.clear();
    markDeadLocked();
    updateReadyLocked();
}

ha_gs_rc_t Session::nodeNumber(ha_gs_node_number_t *node)
{
    Lock lock(mutex_);
    drainLocked();
    if (dead_ || quit_ || !welcome_)
        return HA_GS_NOT_OK;
    *node = welcome_->node;
    return HA_GS_OK;
}

ha_gs_rc_t Session::adapterInfo(ha_gs_adapter_info *adapter)
{
    Lock lock(mutex_);
    drainLocked();
    if (dead_ || quit_ || !welcome_)
        return HA_GS_NOT_OK;
    if ((options_.socketControl & HA_GS_ENABLE_ADAPTER_INFO) == 0)
        return HA_GS_NOT_SUPPORTED;
    const std::optional<std::string> name = interfaceForAddress(adapter->ip_addr.ip4);
    if (!name)
        return HA_GS_BAD_PARAMETER;
    adapter->interface_name = interfaceNames_.insert(*name).first->c_str();
    adapter->node_number = static_cast<short>(welcome_->node);
    return HA_GS_OK;
}

void Session::abandonAfterFork()
{
    /* No lock: another parent thread may have held it at fork time, and no
     * such thread exists here. These descriptors are the library's own
     * copies; closing them leaves the parent's untouched. */
    abandoned_ = true;
    transport_.forgetAfterFork();
    for (int *fd : {&epoll_, &ready_}) {
        if (*fd >= 0)
            ::close(*fd);
        *fd = -1;
    }
}

} // namespace gs::client
