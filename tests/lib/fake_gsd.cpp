/* SPDX-License-Identifier: MIT */
#include "tests/lib/fake_gsd.hpp"

#include <cstdlib>
#include <stdexcept>

namespace libtest {

namespace {

void sendTo(zmq::socket_t &router, const std::string &client,
            const std::vector<std::string> &frames)
{
    router.send(zmq::buffer(client), zmq::send_flags::sndmore);
    for (size_t i = 0; i < frames.size(); ++i)
        router.send(zmq::buffer(frames[i]),
                    i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

std::string serverFrame(const gs::wire::ServerMessage &m)
{
    return gs::wire::encode(m);
}

} // namespace

FakeGsd::FakeGsd(int welcomeRc, int node) : welcomeRc_(welcomeRc), node_(node)
{
    /* mkdtemp replaces the six trailing X. */
    std::string tmpl = "/tmp/ha_gs-fakegsd-" + std::string(6, 'X');
    if (!mkdtemp(tmpl.data()))
        throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    endpoint_ = "ipc://" + dir_ + "/gsd.sock";
    std::unique_lock<std::mutex> lock(mutex_);
    bool bound = false;
    thread_ = std::thread([this, &bound] {
        zmq::context_t context;
        zmq::socket_t router(context, zmq::socket_type::router);
        router.set(zmq::sockopt::linger, 0);
        router.bind(endpoint_);
        {
            std::lock_guard<std::mutex> guard(mutex_);
            bound = true;
        }
        changed_.notify_all();
        serve(router);
    });
    changed_.wait(lock, [&] { return bound; });
}

FakeGsd::~FakeGsd()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    thread_.join();
    const std::string cmd = "rm -rf '" + dir_ + "'";
    [[maybe_unused]] const int rc = std::system(cmd.c_str());
}

void FakeGsd::setHandler(Handler handler)
{
    std::lock_guard<std::mutex> lock(mutex_);
    handler_ = std::move(handler);
}

void FakeGsd::notify(gs::Token token, bool final, const gs::NoteBody &body)
{
    const std::string header = serverFrame(gs::wire::NoteHeader{token, final});
    const std::string encoded = gs::wire::encodeNoteBody(body);
    std::lock_guard<std::mutex> lock(mutex_);
    commands_.push_back([header, encoded, this](zmq::socket_t &router) {
        sendTo(router, lastClient_, {header, encoded});
    });
}

void FakeGsd::sendFrames(std::vector<std::string> frames)
{
    std::lock_guard<std::mutex> lock(mutex_);
    commands_.push_back([frames = std::move(frames), this](zmq::socket_t &router) {
        sendTo(router, lastClient_, frames);
    });
}

void FakeGsd::notifyBeforeNextReply(gs::Token token, bool final, const gs::NoteBody &body)
{
    std::lock_guard<std::mutex> lock(mutex_);
    beforeReply_.push_back(
        {serverFrame(gs::wire::NoteHeader{token, final}), gs::wire::encodeNoteBody(body)});
}

void FakeGsd::ping(uint64_t seq)
{
    const std::string frame = serverFrame(gs::wire::Ping{seq});
    std::lock_guard<std::mutex> lock(mutex_);
    commands_.push_back(
        [frame, this](zmq::socket_t &router) { sendTo(router, lastClient_, {frame}); });
}

void FakeGsd::bye()
{
    const std::string frame = serverFrame(gs::wire::Bye{"test"});
    std::lock_guard<std::mutex> lock(mutex_);
    commands_.push_back(
        [frame, this](zmq::socket_t &router) { sendTo(router, lastClient_, {frame}); });
}

void FakeGsd::drop()
{
    std::lock_guard<std::mutex> lock(mutex_);
    commands_.push_back([this](zmq::socket_t &router) {
        router.close();
        dropped_ = true;
    });
}

std::vector<gs::wire::ClientMessage> FakeGsd::received()
{
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
}

size_t FakeGsd::helloCount()
{
    size_t n = 0;
    for (const auto &m : received())
        if (std::holds_alternative<gs::wire::Hello>(m))
            ++n;
    return n;
}

bool FakeGsd::waitUntil(
    const std::function<bool(const std::vector<gs::wire::ClientMessage> &)> &pred,
    std::chrono::milliseconds limit)
{
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return pred(received_); });
}

void FakeGsd::serve(zmq::socket_t &router)
{
    for (;;) {
        std::deque<std::function<void(zmq::socket_t &)>> commands;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stop_)
                return;
            commands.swap(commands_);
        }
        for (auto &command : commands) {
            if (dropped_)
                break;
            command(router);
        }
        if (dropped_) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
        }
        zmq::pollitem_t items[] = {{router.handle(), 0, ZMQ_POLLIN, 0}};
        zmq::poll(items, 1, std::chrono::milliseconds(5));
        for (;;) {
            std::vector<zmq::message_t> parts;
            for (;;) {
                zmq::message_t part;
                if (!router.recv(part, zmq::recv_flags::dontwait))
                    break;
                const bool more = part.more();
                parts.push_back(std::move(part));
                if (!more)
                    break;
            }
            if (parts.size() < 2)
                break;
            const std::string client = parts[0].to_string();
            gs::wire::ClientMessage message =
                gs::wire::decodeClientMessage(parts[1].to_string_view());
            std::optional<std::string> reply;
            std::vector<std::vector<std::string>> notes;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                received_.push_back(message);
                if (std::holds_alternative<gs::wire::Hello>(message)) {
                    lastClient_ = client;
                    reply = serverFrame(gs::wire::Welcome{welcomeRc_, node_, "test", 1});
                } else if (const auto *req = std::get_if<gs::wire::Req>(&message)) {
                    std::optional<gs::wire::ReplyMsg> r;
                    if (handler_) {
                        r = handler_(*req);
                    } else {
                        r = gs::wire::ReplyMsg{req->id, 0, 0};
                        if (std::holds_alternative<gs::JoinRequest>(req->request) ||
                            std::holds_alternative<gs::SubscribeRequest>(req->request))
                            r->token = nextToken_++;
                    }
                    if (r) {
                        reply = serverFrame(*r);
                        notes.swap(beforeReply_);
                    }
                }
            }
            changed_.notify_all();
            for (const auto &note : notes)
                sendTo(router, client, note);
            if (reply)
                sendTo(router, client, {*reply});
        }
    }
}

} // namespace libtest
