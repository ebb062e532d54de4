/* SPDX-License-Identifier: MIT */
#include "client/link.hpp"

#include "common/wire.hpp"

#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

namespace gs::client {

bool descriptorsAvailable(int count, int fd)
{
    std::vector<int> taken;
    taken.reserve(static_cast<size_t>(count));
    bool ok = true;
    for (int i = 0; i < count && ok; ++i) {
        const int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (d < 0)
            ok = false;
        else
            taken.push_back(d);
    }
    for (int d : taken)
        ::close(d);
    return ok;
}

int receiveHighWaterMark()
{
    const char *text = std::getenv("HA_GS_RECEIVE_QUEUE_LIMIT");
    if (!text || text[0] == '\0')
        return kReceiveHighWaterMark;
    char *end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (*end != '\0' || value < 1 || value > 1000000)
        return kReceiveHighWaterMark;
    return static_cast<int>(value);
}

void openLink(zmq::context_t &context, zmq::socket_t &socket, zmq::socket_t &monitor,
              const char *monitorEndpoint)
{
    context.set(zmq::ctxopt::blocky, 0);
    socket = zmq::socket_t(context, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, 0);
    /* An unlimited send queue: a request is never refused locally (a hung
     * gsd is caught by the request timeout and heartbeats). A bounded
     * receive queue: an application that stops reading holds at most
     * receiveHighWaterMark() messages; the rest stays in gsd's queue for it
     * (see link.hpp). */
    socket.set(zmq::sockopt::sndhwm, 0);
    socket.set(zmq::sockopt::rcvhwm, receiveHighWaterMark());
    socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(wire::kMaxFrameSize));
    socket.set(zmq::sockopt::heartbeat_ivl, kHeartbeatIntervalMs);
    socket.set(zmq::sockopt::heartbeat_timeout, kHeartbeatTimeoutMs);
    /* Never reconnect: a new gsd knows nothing of this session, and a
     * failed first connection must fail the first call. */
    socket.set(zmq::sockopt::reconnect_ivl, -1);
    if (zmq_socket_monitor(socket.handle(), monitorEndpoint, kMonitorEvents) != 0)
        throw zmq::error_t();
    monitor = zmq::socket_t(context, zmq::socket_type::pair);
    monitor.set(zmq::sockopt::linger, 0);
    /* Connected before the DEALER connects: monitor events sent while
     * nobody listens are lost. */
    monitor.connect(monitorEndpoint);
}

std::optional<uint16_t> readMonitorEvent(zmq::socket_t &monitor, uint32_t *value)
{
    zmq::message_t event;
    if (!monitor.recv(event, zmq::recv_flags::dontwait))
        return std::nullopt;
    /* Frame 1: uint16 event, uint32 value; frame 2: the endpoint. */
    bool more = event.more();
    while (more) {
        zmq::message_t part;
        if (!monitor.recv(part, zmq::recv_flags::dontwait))
            break;
        more = part.more();
    }
    uint16_t id = 0;
    if (event.size() >= sizeof(id))
        std::memcpy(&id, event.data(), sizeof(id));
    if (value && event.size() >= sizeof(id) + sizeof(*value))
        std::memcpy(value, event.data<char>() + sizeof(id), sizeof(*value));
    return id;
}

} // namespace gs::client
