/* SPDX-License-Identifier: MIT */
/* The client sender: messages to sessions (outboxes, packs, send windows
 * and their marks, one flush per batch), to connections without a session,
 * and the Byes owed to full connections. A failed send ends its session. */
#include "gsd/broker_impl.hpp"

#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <cerrno>
#include <random>
#include <sys/random.h>

namespace gs {

using broker::Clock;
using broker::Session;

namespace {

/* How often Byes owed to full connections are tried again, and how many
 * are kept (the oldest are dropped beyond). */
constexpr std::chrono::milliseconds kByeRetry{200};
constexpr size_t kMaxOwedByes = 4096;

std::string sendFailure(int error)
{
    switch (error) {
    case EAGAIN:
        return "session ended: notification queue overflow";
    case EHOSTUNREACH:
        return "session ended: connection lost";
    default:
        return std::string("session ended: send failed: ") + zmq_strerror(error);
    }
}

/* A mark's key: unpredictable, so that a client can only learn it by
 * reading the stream (gsd/send_window.hpp). */
uint64_t randomMarkKey()
{
    uint64_t key = 0;
    if (getrandom(&key, sizeof key, 0) == static_cast<ssize_t>(sizeof key))
        return key;
    static std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) | device();
}

/* What a message costs in a connection's window (gsd/send_window.hpp). */
uint64_t windowCost(std::initializer_list<std::string_view> frames)
{
    uint64_t bytes = 0;
    for (std::string_view frame : frames)
        bytes += frame.size() + broker::SendWindow::kFrameCost;
    return bytes;
}

} // namespace

Broker::Impl::Outbox &Broker::Impl::outboxOf(Session &session)
{
    if (session.outbox == Session::kNoOutbox) {
        session.outbox = outboxesUsed++;
        if (session.outbox == outboxes.size())
            outboxes.emplace_back();
        outboxes[session.outbox].client = session.id;
    }
    return outboxes[session.outbox];
}

void Broker::Impl::Outbox::closePack()
{
    if (pack.empty())
        return;
    frames.emplace_back(pack.data(), pack.size());
    pack.clear();
}

bool Broker::Impl::fitsWindow(Session &session, uint64_t bytes)
{
    if (session.overflowed)
        return false;
    if (session.window.admits(session.pendingBytes, bytes)) {
        session.pendingBytes += bytes;
        return true;
    }
    /* A slow consumer: flushOutboxes ends its session. What was collected
     * for it is not sent, so it is freed now. */
    session.overflowed = true;
    Outbox &box = outboxOf(session);
    box.frames.clear();
    box.pack.clear();
    return false;
}

void Broker::Impl::enqueue(Session &session, const std::string &message)
{
    if (!fitsWindow(session, message.size() + broker::SendWindow::kFrameCost))
        return;
    Outbox &box = outboxOf(session);
    if (!session.packs) {
        box.frames.emplace_back(message.data(), message.size());
        return;
    }
    if (box.pack.size() + message.size() > kPackLimit)
        box.closePack();
    box.pack += message;
}

void Broker::Impl::enqueueBody(Session &session, const std::string &body,
                               std::optional<zmq::message_t> &shared)
{
    if (!fitsWindow(session, body.size() + broker::SendWindow::kFrameCost))
        return;
    Outbox &box = outboxOf(session);
    if (session.packs && body.size() <= kPackedBodyLimit) {
        /* Right after its header, in the same frame. */
        box.pack += body;
        return;
    }
    /* A frame of its own; for a packing session the header then ends its
     * frame, which tells the client that the body is the next frame. */
    box.closePack();
    if (!shared)
        shared.emplace(body.data(), body.size());
    zmq::message_t copy;
    copy.copy(*shared);
    box.frames.push_back(std::move(copy));
}

void Broker::Impl::flushOutboxes()
{
    /* Failures are handled after the loop: ending a session submits
     * ClientGone, whose delivery may fill outboxes again. */
    std::vector<std::pair<ClientId, int>> failed;
    for (size_t b = 0; b < outboxesUsed; ++b) {
        Outbox &box = outboxes[b];
        Session *session = sessions.find(box.client);
        if (session && session->overflowed) {
            session->outbox = Session::kNoOutbox;
            failed.emplace_back(box.client, EAGAIN);
        } else if (session) {
            session->outbox = Session::kNoOutbox;
            const uint64_t bytes = session->pendingBytes;
            session->pendingBytes = 0;
            /* The mark goes last, after the bytes it frees. */
            std::optional<uint64_t> mark;
            if (session->window.markDue(bytes)) {
                mark = randomMarkKey();
                wire::encode(wire::ServerMessage{wire::Mark{*mark}}, scratch);
                if (session->packs)
                    box.pack += scratch;
                else
                    box.frames.emplace_back(scratch.data(), scratch.size());
            }
            const uint64_t markBytes = mark ? scratch.size() + broker::SendWindow::kFrameCost : 0;
            box.closePack();
            routerQuiet = false;
            int error = 0;
            if (zmq_send(router.handle(), session->route.data(), session->route.size(),
                         ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0)
                error = zmq_errno();
            for (size_t i = 0; i < box.frames.size() && error == 0; ++i) {
                const int more = i + 1 < box.frames.size() ? ZMQ_SNDMORE : 0;
                if (zmq_msg_send(box.frames[i].handle(), router.handle(), ZMQ_DONTWAIT | more) < 0)
                    error = zmq_errno();
            }
            if (error != 0) {
                failed.emplace_back(box.client, error);
            } else {
                session->window.charge(bytes + markBytes);
                if (mark)
                    session->window.marked(*mark);
            }
        }
        box.frames.clear();
        box.pack.clear();
    }
    outboxesUsed = 0;
    for (const auto &[client, error] : failed)
        sendFailed(client, error);
}

int Broker::Impl::sendFrames(const std::string &route,
                             std::initializer_list<std::string_view> frames)
{
    routerQuiet = false;
    if (zmq_send(router.handle(), route.data(), route.size(), ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0)
        return zmq_errno();
    size_t left = frames.size();
    for (std::string_view frame : frames) {
        const int more = --left > 0 ? ZMQ_SNDMORE : 0;
        if (zmq_send(router.handle(), frame.data(), frame.size(), ZMQ_DONTWAIT | more) < 0)
            return zmq_errno();
    }
    return 0;
}

void Broker::Impl::deliver(ClientId client, std::initializer_list<std::string_view> frames)
{
    Session *session = sessions.find(client);
    if (!session)
        return;
    const uint64_t bytes = windowCost(frames);
    if (session->overflowed || !session->window.admits(session->pendingBytes, bytes))
        return sendFailed(client, EAGAIN);
    if (const int error = sendFrames(session->route, frames); error != 0)
        return sendFailed(client, error);
    session->window.charge(bytes);
    if (!session->window.markDue(0))
        return;
    const uint64_t key = randomMarkKey();
    const std::string mark = wire::encode(wire::ServerMessage{wire::Mark{key}});
    if (const int error = sendFrames(session->route, {mark}); error != 0)
        return sendFailed(client, error);
    session->window.charge(windowCost({mark}));
    session->window.marked(key);
}

void Broker::Impl::sendFailed(ClientId client, int error)
{
    const Session *session = sessions.find(client);
    if (!session)
        return;
    const std::string reason = sendFailure(error);
    /* A client can make itself a slow consumer at will (a Hello per
     * connection, never reading): summarised like the other refusals. */
    if (error == EAGAIN)
        refuse(broker::Refusal::SlowConsumer, spdlog::level::warn,
               fmt::format("{}: {}", peerName(*session), reason));
    else
        spdlog::warn("{}: {}", peerName(*session), reason);
    /* A slow consumer is owed a Bye for when it reads again; a vanished
     * peer is not. */
    endSession(client, reason, error == EAGAIN);
}

void Broker::Impl::tell(const std::string &route, const wire::ServerMessage &message)
{
    sendFrames(route, {wire::encode(message)});
}

void Broker::Impl::sayBye(const std::string &route, const std::string &reason)
{
    const int error = sendFrames(route, {wire::encode(wire::ServerMessage{wire::Bye{reason}})});
    if (error != EAGAIN) {
        if (owedByes.erase(route) != 0)
            std::erase(owedOrder, route);
        return;
    }
    if (owedByes.insert_or_assign(route, reason).second)
        owedOrder.push_back(route);
    while (owedOrder.size() > kMaxOwedByes) {
        owedByes.erase(owedOrder.front());
        owedOrder.pop_front();
    }
    if (!byeRetryArmed) {
        byeRetryArmed = true;
        timers.start(Clock::now() + kByeRetry, broker::ByeRetryDue{});
    }
}

void Broker::Impl::retryByes()
{
    /* In place, oldest first: each stays owed while its queue is still full. */
    std::erase_if(owedOrder, [&](const std::string &route) {
        const auto it = owedByes.find(route);
        if (it == owedByes.end())
            return true;
        if (sendFrames(route, {wire::encode(wire::ServerMessage{wire::Bye{it->second}})}) == EAGAIN)
            return false;
        owedByes.erase(it);
        return true;
    });
    if (!owedOrder.empty()) {
        byeRetryArmed = true;
        timers.start(Clock::now() + kByeRetry, broker::ByeRetryDue{});
    }
}

void Broker::Impl::onTimer(const broker::ByeRetryDue &)
{
    byeRetryArmed = false;
    retryByes();
}

} // namespace gs
