/* SPDX-License-Identifier: MIT */
/*
 * The connection pieces under client/transport.hpp (the one transport of
 * libha_gs and libcgha_cmm): how a DEALER socket to gsd and its monitor are
 * set up, and how monitor events are read. Internal (static library
 * gs_client); the libraries' version scripts keep it private.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <zmq.hpp>

namespace gs::client {

/* CONNECTED marks success; everything else listened to means "no (more)
 * connection": a refused or missing ipc path gives CLOSED (reconnection is
 * disabled) or CONNECT_RETRIED, a lost one DISCONNECTED. */
constexpr int kMonitorEvents =
    ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_CLOSED | ZMQ_EVENT_DISCONNECTED |
    ZMQ_EVENT_MONITOR_STOPPED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
    ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;

/* ZeroMQ heartbeats detect a gsd that hangs without closing the connection,
 * even when the application makes no requests. */
constexpr int kHeartbeatIntervalMs = 1000;
constexpr int kHeartbeatTimeoutMs = 3000;

/* Messages libzmq's I/O thread reads ahead from gsd while the application
 * reads nothing (ZMQ_RCVHWM); the environment variable
 * HA_GS_RECEIVE_QUEUE_LIMIT (1..1000000) replaces it. Beyond it the
 * backlog waits in gsd, which ends the session of a client whose queue
 * there is full too (a slow consumer; docs/operations.md). The library
 * reads everything whenever the application calls it, so this bounds only
 * an idle application's memory. While it is full libzmq reads nothing, not
 * even heartbeats: a connection whose receive queue stays full for
 * kHeartbeatTimeoutMs is closed by the library's own libzmq. Hence the room
 * for one event touching every group a client may be in
 * (HA_GS_MAX_GROUPS_PER_CLIENT). */
constexpr int kReceiveHighWaterMark = 4096;

/* kReceiveHighWaterMark, or HA_GS_RECEIVE_QUEUE_LIMIT when it is valid. */
int receiveHighWaterMark();

/* What libzmq opens for one link: the context's mailbox, the reaper's and
 * the I/O thread's mailbox and poller, one mailbox per socket (DEALER, its
 * monitor, our PAIR) and the ipc connection, plus headroom. */
constexpr int kZmqDescriptors = 12;

/* Whether `count` more descriptors can be opened now (by duplicating `fd`).
 * libzmq aborts when some of its descriptors cannot be created, so check
 * before asking it for any. */
bool descriptorsAvailable(int count, int fd);

/* Makes `socket` a DEALER with the clients' options (no linger, an
 * unlimited send queue, a bounded receive queue, frame size limit, heartbeats, never reconnect) and
 * `monitor` the PAIR end of its monitor at `monitorEndpoint` (an inproc name unique within
 * `context`). The DEALER is not connected yet. Throws zmq::error_t. */
void openLink(zmq::context_t &context, zmq::socket_t &socket, zmq::socket_t &monitor,
              const char *monitorEndpoint);

/* Reads one monitor event and returns its id (and its value through
 * `value` if given); nullopt when none is queued. Throws zmq::error_t. */
std::optional<uint16_t> readMonitorEvent(zmq::socket_t &monitor, uint32_t *value = nullptr);

/* gsd's ZAP handler refuses a connection at its handshake with status 400
 * when its credentials are not authorized (HA_GS_NOT_AUTHORIZED), with 500
 * when gsd closed it for its limits (HA_GS_CONNECT_FAILED); the monitor
 * reports ZMQ_EVENT_HANDSHAKE_FAILED_AUTH with the status as its value. */
constexpr uint32_t kZapNotAuthorized = 400;

/* Whether a monitor event means the connection is gone (or never came). */
inline bool connectionLost(uint16_t event)
{
    return event != ZMQ_EVENT_CONNECTED && event != 0;
}

} // namespace gs::client
