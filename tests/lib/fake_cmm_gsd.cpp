/* SPDX-License-Identifier: MIT */
#include "tests/lib/fake_cmm_gsd.hpp"

#include "common/wire.hpp"

#include <cmm.h>
#include <ha_gs.h>

#include <optional>
#include <set>
#include <stdexcept>
#include <vector>
#include <zmq.hpp>

namespace libtest {
namespace wire = gs::wire;

namespace {

void sendTo(zmq::socket_t &router, const std::string &client, const wire::ServerMessage &m)
{
    const std::string frame = wire::encode(m);
    router.send(zmq::buffer(client), zmq::send_flags::sndmore);
    router.send(zmq::buffer(frame), zmq::send_flags::none);
}

wire::CmmReply answer(const wire::CmmReq &request)
{
    wire::CmmReply reply;
    reply.id = request.id;
    reply.rc = CMM_OK;
    if (request.op == wire::kCmmMemberGetInfo || request.op == wire::kCmmPotentialGetInfo) {
        wire::CmmMember member;
        member.nodeid = request.node;
        member.name = "node" + std::to_string(request.node);
        reply.members.push_back(member);
    }
    return reply;
}

struct Request {
    std::string client;
    wire::CmmReq request;
};

} // namespace

FakeCmmGsd::FakeCmmGsd()
{
    /* mkdtemp replaces the six trailing X. */
    std::string tmpl = "/tmp/cgha_cmm-fakegsd-" + std::string(6, 'X');
    if (!mkdtemp(tmpl.data()))
        throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    endpoint_ = "ipc://" + dir_ + "/gsd.sock";
    thread_ = std::thread([this] { serve(); });
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return bound_; });
}

FakeCmmGsd::~FakeCmmGsd()
{
    stop_ = true;
    thread_.join();
    const std::string cmd = "rm -rf '" + dir_ + "'";
    [[maybe_unused]] const int rc = std::system(cmd.c_str());
}

size_t FakeCmmGsd::requests()
{
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
}

size_t FakeCmmGsd::overtaken()
{
    std::lock_guard<std::mutex> lock(mutex_);
    return overtaken_;
}

bool FakeCmmGsd::waitForRequests(size_t count, std::chrono::milliseconds limit)
{
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return requests_ >= count; });
}

void FakeCmmGsd::notify(int change, uint32_t node)
{
    std::lock_guard<std::mutex> lock(mutex_);
    notes_.emplace_back(change, node);
}

void FakeCmmGsd::serve()
{
    zmq::context_t context;
    zmq::socket_t router(context, zmq::socket_type::router);
    router.set(zmq::sockopt::linger, 0);
    /* A ROUTER drops what exceeds its queue to a slow client (gsd has flow
     * control instead): queue without limit, so a test never loses a
     * notification here. */
    router.set(zmq::sockopt::sndhwm, 0);
    router.bind(endpoint_);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        bound_ = true;
    }
    changed_.notify_all();

    std::optional<Request> held;
    bool heldOnce = false;
    std::vector<Request> heldAll;
    std::set<std::string> registered;
    while (!stop_) {
        zmq::pollitem_t items[] = {{router.handle(), 0, ZMQ_POLLIN, 0}};
        zmq::poll(items, 1, std::chrono::milliseconds(5));
        std::vector<Request> batch;
        for (;;) {
            zmq::message_t identity, body;
            if (!router.recv(identity, zmq::recv_flags::dontwait))
                break;
            if (!identity.more() || !router.recv(body, zmq::recv_flags::dontwait))
                continue;
            const std::string client = identity.to_string();
            wire::ClientMessage message;
            try {
                message = wire::decodeClientMessage(body.to_string_view());
            } catch (const std::exception &) {
                continue;
            }
            if (std::holds_alternative<wire::Hello>(message)) {
                wire::Welcome welcome;
                welcome.rc = HA_GS_OK;
                welcome.node = 1;
                sendTo(router, client, welcome);
            } else if (const auto *request = std::get_if<wire::CmmReq>(&message)) {
                if (request->op == wire::kCmmRegister)
                    registered.insert(client);
                else if (request->op == wire::kCmmUnregister)
                    registered.erase(client);
                batch.push_back(Request{client, *request});
                std::lock_guard<std::mutex> lock(mutex_);
                ++requests_;
            }
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (requests_ > 0)
                changed_.notify_all();
        }
        if (holdAll_) {
            heldAll.insert(heldAll.end(), batch.begin(), batch.end());
            batch.clear();
        }
        if (holdFirst_ && !held && !heldOnce && !batch.empty()) {
            held = batch.front();
            heldOnce = true;
            batch.erase(batch.begin());
        }
        /* Last first: replies overtake each other. */
        for (auto it = batch.rbegin(); it != batch.rend(); ++it)
            sendTo(router, it->client, answer(it->request));
        if (batch.size() > 1 || (held && !batch.empty())) {
            std::lock_guard<std::mutex> lock(mutex_);
            overtaken_ += held ? batch.size() : batch.size() - 1;
        }
        if (held && release_) {
            sendTo(router, held->client, answer(held->request));
            held.reset();
        }
        if (!heldAll.empty() && release_) {
            for (const Request &request : heldAll)
                sendTo(router, request.client, answer(request.request));
            heldAll.clear();
        }
        std::vector<std::pair<int, uint32_t>> notes;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            notes.swap(notes_);
        }
        for (const auto &[change, node] : notes)
            for (const std::string &client : registered)
                sendTo(router, client, wire::CmmNote{change, node});
    }
}

} // namespace libtest
