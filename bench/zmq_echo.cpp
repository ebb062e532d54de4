/* SPDX-License-Identifier: MIT */
#include "zmq_echo.hpp"

#include <zmq.hpp>

namespace bench {

void runZmqEcho(const std::string &endpoint)
{
    zmq::context_t ctx(1);
    zmq::socket_t router(ctx, zmq::socket_type::router);
    router.bind(endpoint);
    for (;;) {
        zmq::message_t id;
        zmq::message_t body;
        if (!router.recv(id) || !router.recv(body))
            continue;
        router.send(id, zmq::send_flags::sndmore);
        router.send(body, zmq::send_flags::none);
    }
}

} // namespace bench
