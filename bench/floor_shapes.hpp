// SPDX-License-Identifier: MIT
/* floor_shapes - raw ZeroMQ with the message pattern of a GSAPI scenario
 * and nothing else: no engine, no encoding, no library. The ratio of a
 * GSAPI row to its shape's floor is what gsd and libha_gs add; the floor
 * itself is what ZeroMQ and this machine allow for that pattern.
 *
 * Every process is forked: call these only while the calling process has
 * no ZeroMQ context. */
#pragma once

#include <string>

namespace bench {

/* floor.zmq-relay: a requester sends 16 bytes to a relay (ROUTER), which
 * replies to it and forwards a 16 + 64 byte message to a third process:
 * the shape of a one-phase state change with one subscriber. The median
 * and p99 are until the third process has received the forwarded message;
 * "floor.zmq-relay.reply" until the requester has the reply. */
void measureRelayFloor(const std::string &dir, int warmup, int iterations);

/* floor.zmq-fanout.{paced,open}.subs=N for N = 1, 10, 100, 1000: a relay
 * sends each of N receiver processes one 16 + 64 byte message per change.
 * Paced: a change is a request from a provider process, which sends the
 * next one when the relay's reply arrives (the shape of the fan-out
 * scenario: one provider, one state change at a time). Open: the relay
 * sends the changes back to back with nothing to wait for (the most the
 * transport delivers). Changes per run as in the fan-out scenario:
 * budget / N, between 100 and 20,000. */
void measureFanoutFloor(const std::string &dir, long long budget);

} // namespace bench
