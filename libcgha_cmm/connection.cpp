/* SPDX-License-Identifier: MIT */
#include "libcgha_cmm/connection.hpp"
#include "common/overloaded.hpp"

#include "ha_gs.h"

#include <cerrno>

namespace gs::cmmlib {
namespace {

/* Every connection has its own context, so a fixed inproc name cannot clash. */
constexpr const char *kMonitorEndpoint = "inproc://cgha_cmm.monitor";

/* The lock of a connection nobody shares yet (open): held by the caller. */
struct HeldLock {
    void lock() {}
    void unlock() {}
};

} // namespace

Connection::Connection() = default;

Connection::~Connection()
{
    if (!dead_)
        transport_.sayQuit();
}

cmm_error_t Connection::open(const std::string &endpoint, Clock::time_point deadline)
{
    try {
        /* libzmq aborts when it cannot create its descriptors: checked first. */
        if (!transport_.open(kMonitorEndpoint))
            return CMM_ENOMEM;
        transport_.connect(endpoint);
    } catch (const zmq::error_t &e) {
        return e.num() == ENOMEM || e.num() == EMFILE || e.num() == ENFILE ? CMM_ENOMEM : CMM_ECONN;
    }
    wire::Hello hello;
    hello.kind = wire::kSessionCmm;
    if (!transport_.send(wire::encode(hello))) {
        markDead();
        return CMM_ECONN;
    }
    drain();
    HeldLock held;
    while (!welcome_ && !dead_) {
        if (Clock::now() >= deadline)
            return CMM_ETIMEDOUT;
        transport_.wait(held, cond_, deadline, *this);
    }
    if (!welcome_)
        return CMM_ECONN;
    switch (welcome_->rc) {
    case HA_GS_OK:
        break;
    case HA_GS_NOT_SUPPORTED:
        markDead();
        return CMM_ENOTSUP;
    case HA_GS_CONNECT_FAILED:
        markDead();
        return CMM_EBUSY;
    default:
        markDead();
        return CMM_ECONN;
    }
    return dead_ ? CMM_ECONN : CMM_OK;
}

RequestId Connection::send(wire::CmmReq request)
{
    if (dead_)
        return 0;
    request.id = nextId_++;
    if (!transport_.send(wire::encode(request))) {
        markDead();
        return 0;
    }
    pending_.emplace(request.id, std::nullopt);
    drain();
    return request.id;
}

std::optional<wire::CmmReply> Connection::take(RequestId id)
{
    const auto it = pending_.find(id);
    if (it == pending_.end() || !it->second)
        return std::nullopt;
    std::optional<wire::CmmReply> reply = std::move(it->second);
    pending_.erase(it);
    return reply;
}

void Connection::forget(RequestId id)
{
    pending_.erase(id);
}

void Connection::wait(Lock &lock, Clock::time_point deadline)
{
    transport_.wait(lock, cond_, deadline, *this);
}

bool Connection::drain()
{
    return transport_.drain(*this);
}

void Connection::shutdown()
{
    if (!dead_)
        transport_.sayQuit();
    markDead();
}

void Connection::markDead()
{
    if (!dead_) {
        dead_ = true;
        /* Deferred while a leader polls the descriptors. */
        transport_.close();
    }
    cond_.notify_all();
    transport_.wakeLeader();
}

void Connection::drained(bool routed)
{
    if (routed) {
        cond_.notify_all();
        transport_.wakeLeader();
    }
}

void Connection::lost(uint16_t, uint32_t)
{
    markDead();
}

void Connection::received(std::vector<zmq::message_t> &frames)
{
    try {
        /* A CMM session takes neither batches nor packs: one message each. */
        if (frames.size() != 1)
            throw wire::DecodeError("too many frames");
        route(wire::decodeServerMessage(frames.front().to_string_view()));
    } catch (const std::bad_alloc &) {
        throw;
    } catch (const std::exception &) {
        /* A gsd that speaks garbage cannot be trusted with the session. */
        markDead();
    }
}

void Connection::route(wire::ServerMessage message)
{
    std::visit(Overloaded{
                   [&](wire::Welcome &welcome) {
                       if (!welcome_)
                           welcome_ = std::move(welcome);
                   },
                   [&](wire::CmmReply &reply) {
                       /* Late answers to calls that timed out are dropped. */
                       if (const auto it = pending_.find(reply.id); it != pending_.end())
                           it->second = std::move(reply);
                   },
                   [&](wire::CmmNote &note) { notes_.push_back(note); },
                   [&](wire::Bye &) { markDead(); },
                   /* Flow control: gsd counts what it sent since the mark
                    * until this answer (wire::Mark). */
                   [&](wire::Mark &mark) {
                       if (!transport_.acknowledge(mark.key))
                           markDead();
                   },
                   /* GSAPI messages never come on a CMM session. */
                   [](wire::ReplyMsg &) {},
                   [](wire::NoteHeader &) {},
                   [](wire::Ping &) {},
                   /* Nor admin messages (admin sessions only). */
                   [](wire::AdminReply &) {},
                   [](wire::AdminEvent &) {},
               },
               message);
}

} // namespace gs::cmmlib
