/* SPDX-License-Identifier: MIT */
/* The MessagePack codec: round trips of every message, and hostile frames. */
#include "cmm.h"
#include "common/wire.hpp"
#include "ha_gs.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

using namespace gs;
using namespace gs::wire;
using json = nlohmann::json;
using namespace std::string_literals;

namespace {

/* The model's request and message structs have no operator==; compare their
 * fields here so a field the codec drops on both sides is still caught. */
auto fields(const JoinRequest &r)
{
    return std::tie(r.attributes, r.instance, r.localName);
}
auto fields(const LeaveRequest &r)
{
    return std::tie(r.token, r.numPhases, r.timeLimit, r.leaveCode);
}
auto fields(const GoodbyeRequest &r)
{
    return std::tie(r.token);
}
auto fields(const ExpelRequest &r)
{
    return std::tie(r.token, r.numPhases, r.timeLimit, r.expelList, r.deactivatePhase,
                    r.deactivateFlag);
}
auto fields(const StateChangeRequest &r)
{
    return std::tie(r.token, r.numPhases, r.timeLimit, r.newState);
}
auto fields(const MessageRequest &r)
{
    return std::tie(r.token, r.numPhases, r.timeLimit, r.message);
}
auto fields(const AttributeChangeRequest &r)
{
    return std::tie(r.token, r.numPhases, r.timeLimit, r.attributes);
}
auto fields(const VoteRequest &r)
{
    return std::tie(r.token, r.vote, r.proposedState, r.message, r.defaultVote);
}
auto fields(const SubscribeRequest &r)
{
    return std::tie(r.control, r.group);
}
auto fields(const UnsubscribeRequest &r)
{
    return std::tie(r.token);
}
auto fields(const Hello &m)
{
    return std::tie(m.version, m.domain, m.responsivenessType, m.responsivenessInterval,
                    m.responsivenessTimeLimit, m.kind, m.batches, m.packs, m.deactivateScript,
                    m.counterAddress, m.counterLength);
}
auto fields(const CmmReq &m)
{
    return std::tie(m.id, m.op, m.node, m.qualif);
}
auto fields(const CmmReply &m)
{
    return std::tie(m.id, m.rc, m.node, m.count, m.members);
}
auto fields(const AdminReq &m)
{
    return std::tie(m.id, m.query, m.group);
}
auto fields(const AdminReply &m)
{
    return std::tie(m.id, m.rc, m.text);
}
auto fields(const AdminEvent &m)
{
    return std::tie(m.text);
}
auto fields(const Pong &m)
{
    return std::tie(m.seq);
}
auto fields(const Quit &)
{
    return std::tuple<>();
}
auto fields(const Welcome &m)
{
    return std::tie(m.rc, m.node, m.domain, m.client);
}
auto fields(const ReplyMsg &m)
{
    return std::tie(m.id, m.rc, m.token);
}
auto fields(const NoteHeader &m)
{
    return std::tie(m.token, m.final);
}
auto fields(const Ack &m)
{
    return std::tie(m.key);
}
auto fields(const Mark &m)
{
    return std::tie(m.key);
}
auto fields(const Ping &m)
{
    return std::tie(m.seq);
}
auto fields(const Bye &m)
{
    return std::tie(m.reason);
}

bool same(const Req &a, const Req &b);

template <class T>
bool same(const T &a, const T &b)
{
    if constexpr (requires { a == b; })
        return a == b;
    else
        return fields(a) == fields(b);
}

template <class... Ts>
bool same(const std::variant<Ts...> &a, const std::variant<Ts...> &b)
{
    if (a.index() != b.index())
        return false;
    return std::visit(
        [&](const auto &left) { return same(left, std::get<std::decay_t<decltype(left)>>(b)); }, a);
}

bool same(const Req &a, const Req &b)
{
    return a.id == b.id && same(a.request, b.request);
}

/* Bytes that a C string would cut short or a UTF-8 check would reject. */
const Bytes kNasty = "a\0b\xff\xfe\0\x80z"s;

GroupAttributes attributes()
{
    GroupAttributes a;
    a.version = 1;
    a.sizeofAttributes = 64;
    a.clientVersion = -7;
    a.batchControl = HA_GS_BATCH_BOTH;
    a.numPhases = HA_GS_N_PHASE;
    a.sourceReflectionNumPhases = HA_GS_1_PHASE;
    a.defaultVote = HA_GS_VOTE_REJECT;
    a.mergeControl = HA_GS_DISSOLVE_ON_MERGE;
    a.timeLimit = 30;
    a.sourceReflectionTimeLimit = 40;
    a.groupName = "group.one";
    a.sourceGroupName = "source";
    return a;
}

const std::vector<ProviderId> kProviders = {{1, 1}, {-32768, 32767}, {32767, -1}};

std::vector<Request> allRequests()
{
    VoteRequest voteWith{7, HA_GS_VOTE_CONTINUE, kNasty, "m\0"s, HA_GS_VOTE_REJECT};
    VoteRequest voteWithout{8, HA_GS_VOTE_APPROVE, std::nullopt, std::nullopt, 0};
    VoteRequest voteEmpty{9, HA_GS_VOTE_APPROVE, Bytes{}, Bytes{}, 0};
    return {
        JoinRequest{attributes(), 70000, "local"},
        LeaveRequest{3, HA_GS_N_PHASE, 10, 0xffffffffu},
        GoodbyeRequest{std::numeric_limits<Token>::max()},
        ExpelRequest{4, HA_GS_1_PHASE, 0, kProviders, 2, "flag"},
        ExpelRequest{4, HA_GS_1_PHASE, 0, {}, 0, ""},
        StateChangeRequest{5, HA_GS_N_PHASE, 600, kNasty},
        StateChangeRequest{5, HA_GS_1_PHASE, 0, Bytes{}},
        MessageRequest{6, HA_GS_1_PHASE, -1, kNasty},
        AttributeChangeRequest{std::numeric_limits<Token>::min(), 2, 3, attributes()},
        voteWith,
        voteWithout,
        voteEmpty,
        SubscribeRequest{HA_GS_SUBSCRIBE_ALL_MEMBERSHIP | HA_GS_SUBSCRIBE_STATE, "g"},
        UnsubscribeRequest{11},
    };
}

std::vector<ClientMessage> allClientMessages()
{
    std::vector<ClientMessage> out = {
        Hello{kProtocolVersion, "domain", HA_GS_PING_RESPONSIVENESS, 5, 2},
        Hello{kProtocolVersion, std::nullopt, 0, 0, 0},
        Hello{kProtocolVersion, "", 0, 0, 0},
        Hello{kProtocolVersion, std::nullopt, 0, 0, 0, kSessionCmm},
        Hello{kProtocolVersion, std::nullopt, 0, 0, 0, kSessionGsapi, true},
        Hello{kProtocolVersion, std::nullopt, 0, 0, 0, kSessionGsapi, true, true},
        Hello{kProtocolVersion, std::nullopt, HA_GS_COUNTER_RESPONSIVENESS, 2, 3, kSessionGsapi,
              true, true, "/usr/libexec/deactivate", 0x7ffd12345678ull, 8},
        CmmReq{1, kCmmNodeGetId, 0, 0},
        CmmReq{std::numeric_limits<RequestId>::max(), kCmmSetQualif, 0xFFFFFFFFu,
               CMM_DISQUALIFIED_MEMBER},
        CmmReq{3, kCmmRegister, 0, 0},
        Hello{kProtocolVersion, std::nullopt, 0, 0, 0, kSessionAdmin},
        AdminReq{4, "groups", std::nullopt},
        AdminReq{5, "group", "a group"},
        Pong{0},
        Pong{std::numeric_limits<uint64_t>::max()},
        Quit{},
        Ack{0},
        Ack{std::numeric_limits<uint64_t>::max()},
    };
    RequestId id = 0;
    for (Request &request : allRequests())
        out.push_back(Req{id++ * 0x0123456789abull, std::move(request)});
    return out;
}

std::vector<ServerMessage> allServerMessages()
{
    return {
        Welcome{HA_GS_OK, 12, "local", 99},
        Welcome{HA_GS_NOT_AUTHORIZED, 0, "", 0},
        ReplyMsg{std::numeric_limits<RequestId>::max(), HA_GS_COLLIDE, -5},
        NoteHeader{42, true},
        NoteHeader{1, false},
        Ping{77},
        Bye{"gsd shutting down"},
        CmmReply{7, CMM_OK, 3, 0, {}},
        CmmReply{8,
                 CMM_EAGAIN,
                 0,
                 2,
                 {CmmMember{1, "alpha", "10.0.0.1", 1, CMM_MASTER | CMM_ELIGIBLE_MEMBER, 4, "sw"},
                  CmmMember{0xFFFFFFFFu, "", "", 0, 0, 0, ""}}},
        CmmReply{9, CMM_ERANGE, 0, 1025, {}},
        CmmNote{CMM_MASTER_ELECTED, 1},
        CmmNote{CMM_STALE_CLUSTER, 0},
        AdminReply{4, HA_GS_OK, "{\"groups\":[]}"},
        AdminReply{5, HA_GS_UNKNOWN_GROUP, ""},
        AdminEvent{"{\"event\":\"vote\"}"},
        Mark{0},
        Mark{std::numeric_limits<uint64_t>::max()},
    };
}

Proposal fullProposal()
{
    Proposal p;
    p.phaseNumber = 3;
    p.numPhases = HA_GS_N_PHASE;
    p.oldState = kNasty;
    p.proposedState = "new\0state"s;
    p.message = Bytes{};
    p.currentProviders = kProviders;
    p.changingProviders = {{2, 1}};
    p.leaveInfo = {{5, HA_GS_PROVIDER_LEFT}};
    p.expelInfo = ExpelInfo{2, "deact"};
    p.proposedAttributes = attributes();
    p.sourceState = kNasty;
    return p;
}

std::vector<NoteBody> allNoteBodies()
{
    return {
        NPhaseNote{HA_GS_JOIN, HA_GS_EXPLICIT_APPROVE, 30, fullProposal()},
        NPhaseNote{HA_GS_STATE_VALUE_CHANGE, 0, 0, Proposal{}},
        ApprovedNote{HA_GS_FAILURE_LEAVE, HA_GS_GROUP_DISSOLVED, fullProposal()},
        ApprovedNote{HA_GS_JOIN, 0, Proposal{}},
        RejectedNote{HA_GS_EXPEL, HA_GS_EXPLICIT_REJECT, fullProposal()},
        AnnouncementNote{HA_GS_RESPONSIVENESS_NO_RESPONSE, kProviders},
        AnnouncementNote{HA_GS_TIME_LIMIT_EXCEEDED, {}},
        SubscriptionNote{HA_GS_SUBSCRIPTION_STATE | HA_GS_SUBSCRIPTION_MEMBERSHIP, kNasty,
                         kProviders, std::vector<ProviderId>{}},
        SubscriptionNote{HA_GS_SUBSCRIPTION_DISSOLVED, std::nullopt, std::nullopt, std::nullopt},
        DelayedErrorNote{HA_GS_SUBSCRIPTION, HA_GS_UNKNOWN_GROUP},
    };
}

json asDocument(const std::string &frame)
{
    return json::from_msgpack(frame);
}
std::string toFrame(const json &document)
{
    std::string out;
    json::to_msgpack(document, out);
    return out;
}

/* Runs every decoder on `frame`: each must either decode or throw
 * DecodeError, never anything else. Returns how many threw DecodeError. */
int decodeAll(std::string_view frame)
{
    int rejected = 0;
    const auto attempt = [&](auto &&decode) {
        try {
            decode(frame);
        } catch (const DecodeError &) {
            ++rejected;
        } catch (const std::exception &error) {
            FAIL("unexpected exception type: " << error.what());
        }
    };
    attempt([](std::string_view f) { (void)decodeClientMessage(f); });
    attempt([](std::string_view f) { (void)decodeServerMessage(f); });
    attempt([](std::string_view f) { (void)decodeNoteBody(f); });
    return rejected;
}

template <class Decode>
void checkEveryTruncationFails(const std::string &frame, Decode decode)
{
    for (size_t length = 0; length < frame.size(); ++length)
        CHECK_THROWS_AS(decode(std::string_view(frame).substr(0, length)), DecodeError);
}

} // namespace

TEST_CASE("every client message round-trips")
{
    for (const ClientMessage &message : allClientMessages()) {
        const std::string frame = encode(message);
        CHECK(frame.size() < 1024);
        const ClientMessage back = decodeClientMessage(frame);
        CHECK(same(message, back));
        CHECK(encode(back) == frame);
    }
}

TEST_CASE("a hello without a session kind is a GSAPI hello")
{
    json document =
        asDocument(encode(ClientMessage{Hello{kProtocolVersion, "d", 0, 0, 0, kSessionCmm}}));
    REQUIRE(document.contains("k"));
    CHECK(std::get<Hello>(decodeClientMessage(toFrame(document))).kind == kSessionCmm);
    document.erase("k");
    CHECK(std::get<Hello>(decodeClientMessage(toFrame(document))).kind == kSessionGsapi);
    document["k"] = "cmm";
    CHECK_THROWS_AS(decodeClientMessage(toFrame(document)), DecodeError);
}

TEST_CASE("a hello without the batches field does not accept batches")
{
    json document = asDocument(
        encode(ClientMessage{Hello{kProtocolVersion, std::nullopt, 0, 0, 0, kSessionGsapi, true}}));
    REQUIRE(document.contains("b"));
    CHECK(std::get<Hello>(decodeClientMessage(toFrame(document))).batches);
    document.erase("b");
    CHECK_FALSE(std::get<Hello>(decodeClientMessage(toFrame(document))).batches);
    document["b"] = 1;
    CHECK_THROWS_AS(decodeClientMessage(toFrame(document)), DecodeError);
}

TEST_CASE("a hello without the packs field does not accept packs")
{
    json document = asDocument(encode(
        ClientMessage{Hello{kProtocolVersion, std::nullopt, 0, 0, 0, kSessionGsapi, true, true}}));
    REQUIRE(document.contains("p"));
    CHECK(std::get<Hello>(decodeClientMessage(toFrame(document))).packs);
    document.erase("p");
    CHECK_FALSE(std::get<Hello>(decodeClientMessage(toFrame(document))).packs);
    document["p"] = "yes";
    CHECK_THROWS_AS(decodeClientMessage(toFrame(document)), DecodeError);
}

TEST_CASE("a packed frame is read message by message")
{
    /* Every server message, each followed by every note body, all in one
     * frame: the next-decoders take them in order and stop exactly at each
     * document's end. */
    std::string frame;
    size_t expected = 0;
    for (const ServerMessage &m : allServerMessages()) {
        frame += encode(m);
        ++expected;
    }
    for (const NoteBody &b : allNoteBodies())
        frame += encodeNoteBody(b);
    std::string_view rest = frame;
    for (const ServerMessage &m : allServerMessages()) {
        const ServerMessage decoded = decodeNextServerMessage(rest);
        CHECK(encode(decoded) == encode(m));
    }
    for (const NoteBody &b : allNoteBodies()) {
        const NoteBody decoded = decodeNextNoteBody(rest);
        CHECK(encodeNoteBody(decoded) == encodeNoteBody(b));
    }
    CHECK(rest.empty());
    CHECK(expected == allServerMessages().size());

    /* Nothing left, a cut document and a document of the wrong kind fail
     * and leave `rest` where it was. */
    std::string_view empty;
    CHECK_THROWS_AS(decodeNextServerMessage(empty), DecodeError);
    const std::string reply = encode(ServerMessage{ReplyMsg{7, 0, 3}});
    for (size_t cut = 1; cut < reply.size(); ++cut) {
        std::string_view truncated(reply.data(), cut);
        CHECK_THROWS_AS(decodeNextServerMessage(truncated), DecodeError);
        CHECK(truncated.size() == cut);
    }
    std::string_view notABody = reply;
    CHECK_THROWS_AS(decodeNextNoteBody(notABody), DecodeError);
    /* The whole-frame decoders stay strict about trailing bytes. */
    CHECK_THROWS_AS(decodeServerMessage(reply + reply), DecodeError);
}

TEST_CASE("every client message alternative is covered")
{
    std::vector<bool> seen(std::variant_size_v<ClientMessage>, false);
    for (const ClientMessage &message : allClientMessages())
        seen[message.index()] = true;
    for (size_t i = 0; i < seen.size(); ++i)
        CHECK_MESSAGE(seen[i], "client message alternative " << i);
}

TEST_CASE("CMM reply members keep every field")
{
    const CmmMember member{42, "n\xc3\xa9", "::1", 7, CMM_VICEMASTER | CMM_FLAG_SYNCHRO_NEEDED,
                           9,  "load"};
    const auto back = std::get<CmmReply>(
        decodeServerMessage(encode(ServerMessage{CmmReply{5, CMM_OK, 0, 1, {member}}})));
    REQUIRE(back.members.size() == 1);
    CHECK(back.members[0] == member);
    CHECK(back.count == 1);
}

TEST_CASE("every request alternative is covered")
{
    std::vector<bool> seen(std::variant_size_v<Request>, false);
    for (const Request &request : allRequests())
        seen[request.index()] = true;
    for (size_t i = 0; i < seen.size(); ++i)
        CHECK_MESSAGE(seen[i], "request alternative " << i);
}

TEST_CASE("every server message round-trips")
{
    std::vector<bool> seen(std::variant_size_v<ServerMessage>, false);
    for (const ServerMessage &message : allServerMessages()) {
        seen[message.index()] = true;
        const std::string frame = encode(message);
        const ServerMessage back = decodeServerMessage(frame);
        CHECK(same(message, back));
        CHECK(encode(back) == frame);
    }
    for (size_t i = 0; i < seen.size(); ++i)
        CHECK_MESSAGE(seen[i], "server message alternative " << i);
}

TEST_CASE("every notification body round-trips")
{
    std::vector<bool> seen(std::variant_size_v<NoteBody>, false);
    for (const NoteBody &body : allNoteBodies()) {
        seen[body.index()] = true;
        const std::string frame = encodeNoteBody(body);
        const NoteBody back = decodeNoteBody(frame);
        CHECK(back == body);
        CHECK(encodeNoteBody(back) == frame);
    }
    for (size_t i = 0; i < seen.size(); ++i)
        CHECK_MESSAGE(seen[i], "note alternative " << i);
}

TEST_CASE("bytes travel as MessagePack bin, names as str")
{
    const json state =
        asDocument(encode(ClientMessage{Req{1, StateChangeRequest{5, 1, 0, kNasty}}}));
    REQUIRE(state["r"]["s"].is_binary());
    CHECK(state["r"]["s"].get_binary().size() == kNasty.size());
    CHECK(state["t"] == "req");
    CHECK(state["r"]["t"] == "state");

    const json join = asDocument(encode(ClientMessage{Req{2, JoinRequest{attributes(), 1, ""}}}));
    CHECK(join["r"]["a"]["g"].is_string());

    const json note = asDocument(encodeNoteBody(ApprovedNote{HA_GS_JOIN, 0, fullProposal()}));
    CHECK(note["pr"]["os"].is_binary());
    CHECK(note["pr"]["ss"].is_binary());
    CHECK(note["pr"]["cp"].size() == kProviders.size());
}

TEST_CASE("unset optionals are absent, not null")
{
    const json hello = asDocument(encode(ClientMessage{Hello{}}));
    CHECK_FALSE(hello.contains("d"));
    const json sub = asDocument(encodeNoteBody(SubscriptionNote{HA_GS_SUBSCRIPTION_DISSOLVED}));
    CHECK_FALSE(sub.contains("s"));
    CHECK_FALSE(sub.contains("fm"));
    CHECK_FALSE(sub.contains("cm"));
}

TEST_CASE("empty and non-map frames are rejected")
{
    CHECK(decodeAll("") == 3);
    CHECK(decodeAll(toFrame(json::array({1, 2}))) == 3);
    CHECK(decodeAll(toFrame(json(5))) == 3);
    CHECK(decodeAll(toFrame(json("hello"))) == 3);
    CHECK(decodeAll(toFrame(json::object())) == 3);
    CHECK(decodeAll(toFrame(json{{"t", 1}})) == 3);
    CHECK(decodeAll(toFrame(json{{"t", "nonsense"}})) == 3);
    /* A valid map followed by trailing garbage. */
    CHECK(decodeAll(encode(ClientMessage{Quit{}}) + "x") == 3);
}

TEST_CASE("a message of the other direction is rejected")
{
    for (const ServerMessage &message : allServerMessages())
        CHECK_THROWS_AS(decodeClientMessage(encode(message)), DecodeError);
    for (const ClientMessage &message : allClientMessages())
        CHECK_THROWS_AS(decodeServerMessage(encode(message)), DecodeError);
    for (const NoteBody &body : allNoteBodies())
        CHECK_THROWS_AS(decodeClientMessage(encodeNoteBody(body)), DecodeError);
}

TEST_CASE("random bytes never crash a decoder")
{
    std::mt19937 random(20240601);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<size_t> length(0, 96);
    for (int round = 0; round < 4000; ++round) {
        std::string frame(length(random), '\0');
        for (char &c : frame)
            c = static_cast<char>(byte(random));
        /* Start half of them with a map header so the decoders get further. */
        if (round % 2 == 0 && !frame.empty())
            frame[0] = static_cast<char>(0x80 | (frame[0] & 0x0f));
        decodeAll(frame);
    }
}

TEST_CASE("mutated valid frames never crash a decoder")
{
    std::mt19937 random(7);
    std::vector<std::string> frames;
    for (const ClientMessage &m : allClientMessages())
        frames.push_back(encode(m));
    for (const ServerMessage &m : allServerMessages())
        frames.push_back(encode(m));
    for (const NoteBody &b : allNoteBodies())
        frames.push_back(encodeNoteBody(b));
    for (int round = 0; round < 4000; ++round) {
        std::string frame = frames[static_cast<size_t>(round) % frames.size()];
        std::uniform_int_distribution<size_t> position(0, frame.size() - 1);
        for (int flips = 0; flips < 3; ++flips)
            frame[position(random)] = static_cast<char>(random());
        decodeAll(frame);
    }
}

TEST_CASE("every truncation of a valid frame is rejected")
{
    for (const ClientMessage &m : allClientMessages())
        checkEveryTruncationFails(encode(m), decodeClientMessage);
    for (const ServerMessage &m : allServerMessages())
        checkEveryTruncationFails(encode(m), decodeServerMessage);
    for (const NoteBody &b : allNoteBodies())
        checkEveryTruncationFails(encodeNoteBody(b), decodeNoteBody);
}

TEST_CASE("every missing required field is rejected")
{
    /* Keys that may be absent: unset optionals. */
    const std::vector<std::string> optionalKeys = {"d",  "s", "m", "ps", "ei", "pa", "ss", "fm",
                                                   "cm", "k", "b", "p",  "ds", "ca", "cl", "gn"};
    const auto isOptional = [&](const std::string &key) {
        return std::find(optionalKeys.begin(), optionalKeys.end(), key) != optionalKeys.end();
    };
    int checked = 0;
    for (const ClientMessage &m : allClientMessages()) {
        const json document = asDocument(encode(m));
        for (const auto &[key, value] : document.items()) {
            if (isOptional(key))
                continue;
            json without = document;
            without.erase(key);
            CHECK_THROWS_AS(decodeClientMessage(toFrame(without)), DecodeError);
            ++checked;
        }
        if (!document.contains("r"))
            continue;
        for (const auto &[key, value] : document["r"].items()) {
            if (isOptional(key))
                continue;
            json without = document;
            without["r"].erase(key);
            CHECK_THROWS_AS(decodeClientMessage(toFrame(without)), DecodeError);
            ++checked;
        }
    }
    for (const NoteBody &b : allNoteBodies()) {
        const json document = asDocument(encodeNoteBody(b));
        if (!document.contains("pr"))
            continue;
        for (const auto &[key, value] : document["pr"].items()) {
            if (isOptional(key))
                continue;
            json without = document;
            without["pr"].erase(key);
            CHECK_THROWS_AS(decodeNoteBody(toFrame(without)), DecodeError);
            ++checked;
        }
    }
    CHECK(checked > 50);
}

TEST_CASE("wrong types are rejected")
{
    const json req = asDocument(encode(ClientMessage{Req{1, StateChangeRequest{5, 1, 0, "x"}}}));
    const auto rejects = [](const json &document) {
        CHECK_THROWS_AS(decodeClientMessage(toFrame(document)), DecodeError);
    };
    json bad = req;
    bad["id"] = "one";
    rejects(bad);
    bad = req;
    bad["id"] = 1.5;
    rejects(bad);
    bad = req;
    bad["r"]["s"] = "text, not bytes";
    rejects(bad);
    bad = req;
    bad["r"]["s"] = json::binary({1, 2}, 5); /* MessagePack ext, not bin */
    rejects(bad);
    bad = req;
    bad["r"]["tk"] = true;
    rejects(bad);
    bad = req;
    bad["r"] = json::array();
    rejects(bad);
    bad = req;
    bad["r"]["t"] = "ping";
    rejects(bad);

    json join = asDocument(encode(ClientMessage{Req{1, JoinRequest{attributes(), 1, ""}}}));
    join["r"]["a"]["g"] = json::binary({'g'});
    rejects(join);

    json header = asDocument(encode(ServerMessage{NoteHeader{1, true}}));
    header["f"] = 1;
    CHECK_THROWS_AS(decodeServerMessage(toFrame(header)), DecodeError);

    json expel =
        asDocument(encode(ClientMessage{Req{1, ExpelRequest{4, 1, 0, kProviders, 0, ""}}}));
    expel["r"]["el"][0] = json::array({1});
    rejects(expel);
    expel["r"]["el"][0] = json::array({1, 2, 3});
    rejects(expel);
    expel["r"]["el"] = json::object();
    rejects(expel);
}

TEST_CASE("numbers out of their field's range are rejected")
{
    const auto rejectsReq = [](const char *key, const json &value) {
        json document = asDocument(encode(ClientMessage{Req{1, LeaveRequest{3, 1, 1, 1}}}));
        document["r"][key] = value;
        CHECK_THROWS_AS(decodeClientMessage(toFrame(document)), DecodeError);
    };
    rejectsReq("tk", int64_t{1} << 31);
    rejectsReq("tk", -(int64_t{1} << 31) - 1);
    rejectsReq("lc", -1);
    rejectsReq("lc", uint64_t{1} << 32);
    rejectsReq("np", std::numeric_limits<uint64_t>::max());

    json pong = asDocument(encode(ClientMessage{Pong{1}}));
    pong["seq"] = -1;
    CHECK_THROWS_AS(decodeClientMessage(toFrame(pong)), DecodeError);

    json expel =
        asDocument(encode(ClientMessage{Req{1, ExpelRequest{4, 1, 0, kProviders, 0, ""}}}));
    expel["r"]["el"][0] = json::array({32768, 1});
    CHECK_THROWS_AS(decodeClientMessage(toFrame(expel)), DecodeError);
    expel["r"]["el"][0] = json::array({1, -32769});
    CHECK_THROWS_AS(decodeClientMessage(toFrame(expel)), DecodeError);

    json header = asDocument(encode(ServerMessage{NoteHeader{1, true}}));
    header["tk"] = uint64_t{1} << 40;
    CHECK_THROWS_AS(decodeServerMessage(toFrame(header)), DecodeError);

    /* The extremes of each type still decode. */
    json reply = asDocument(encode(ServerMessage{ReplyMsg{1, 0, 0}}));
    reply["id"] = std::numeric_limits<uint64_t>::max();
    reply["tk"] = std::numeric_limits<int32_t>::min();
    const auto decoded = std::get<ReplyMsg>(decodeServerMessage(toFrame(reply)));
    CHECK(decoded.id == std::numeric_limits<uint64_t>::max());
    CHECK(decoded.token == std::numeric_limits<int32_t>::min());
}

TEST_CASE("deeply nested frames are rejected without exhausting the stack")
{
    /* A megabyte of fixarray-of-one headers: a million levels deep. */
    CHECK(decodeAll(std::string(kMaxFrameSize, '\x91')) == 3);
    CHECK(decodeAll("\x81\xa1t" + std::string(100000, '\x81') + "\xa1t") == 3);
}

TEST_CASE("huge length prefixes with little data are rejected")
{
    /* array32 / map32 / bin32 / str32 claiming 4 G entries */
    CHECK(decodeAll("\xdd\xff\xff\xff\xff") == 3);
    CHECK(decodeAll("\xdf\xff\xff\xff\xff\xa1t") == 3);
    CHECK(decodeAll("\x81\xa1t\xc6\xff\xff\xff\xffxx") == 3);
    CHECK(decodeAll("\x81\xa1t\xdb\xff\xff\xff\xffxx") == 3);
}
