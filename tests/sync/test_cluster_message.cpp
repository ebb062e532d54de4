/* SPDX-License-Identifier: MIT */
/* The inter-node codec (gsd/cluster_message.hpp): every message and every
 * input variant round-trips exactly; malformed bytes are refused. */
#include "gsd/cluster_message.hpp"

#include <doctest/doctest.h>

using namespace gs;
using namespace gs::cluster;

namespace {

std::vector<Input> everyInput()
{
    JoinRequest join;
    join.attributes.groupName = "group.a";
    join.attributes.sourceGroupName = "source";
    join.attributes.numPhases = 2;
    join.attributes.timeLimit = 30;
    join.instance = 7;
    join.localName = "provider";
    VoteRequest vote;
    vote.token = 3;
    vote.vote = 1;
    vote.proposedState = std::string("st\0ate", 6);
    vote.defaultVote = 2;
    ExpelRequest expel;
    expel.token = 4;
    expel.expelList = {{1, 2}, {3, 4}};
    expel.deactivateFlag = "flag";

    cmm::NodeConfig row;
    row.id = 3;
    row.name = "n3";
    row.address = "10.0.0.3";
    row.domain = 9;
    row.softwareLoad = "load";
    row.eligible = false;
    row.frozen = true;
    row.excluded = true;
    row.disqualified = true;
    row.synchroNeeded = true;
    cmm::NodeConfig plain;
    plain.id = 1;

    return {
        Event{ClientHello{0x0001000000000005ull, true}},
        Event{ClientRequest{11, 99, join}},
        Event{ClientRequest{12, 100, vote}},
        Event{ClientRequest{13, 101, expel}},
        Event{ClientRequest{14, 102, SubscribeRequest{5, "group.b"}}},
        Event{ClientGone{15}},
        Event{ClientUnresponsive{16}},
        Event{TimerFired{17}},
        Event{DeactivateFinished{18, 2}},
        Event{NodeGone{32767}},
        CmmRequest{20, 21, cmm::RemoveSelf{2}},
        CmmRequest{22, 23, cmm::MastershipRelease{2}},
        CmmRequest{24, 25, cmm::SetQualif{1, 2, -5}},
        CmmRequest{26, 27, cmm::SeizeQualif{3}},
        CmmRequest{28, 29, cmm::NodeEligibility{1, false}},
        CmmRequest{30, 31, cmm::ConfigReload{1, {plain, row}}},
        CmmNodeInput{cmm::NodeUp{1}},
        CmmNodeInput{cmm::NodeDown{2}},
        CmmNodeInput{cmm::ConfigReload{2, {row}}},
        CmmNodeInput{cmm::ClusterStale{}},
        CmmNodeInput{cmm::ClusterInvalid{}},
        CmmNodeInput{cmm::ClusterValid{}},
        Event{NodeJoined{7}},
    };
}

std::vector<Message> everyMessage()
{
    return {
        Inputs{everyInput()},
        Inputs{},
        State{7, 4242, 9, 2, true, false, kFormatVersion},
        SnapBegin{0xfeedull},
        SnapChunk{0xfeedull, 3, std::string("blob\0bytes", 10)},
        SnapEnd{0xfeedull, 4, 1000, 0x1234567890abcdefull},
        DigestProbe{5},
        DigestReport{5, 77},
    };
}

} // namespace

TEST_CASE("every message and input round-trips exactly")
{
    for (const Message &message : everyMessage()) {
        CAPTURE(message.index());
        const std::string bytes = encode(message);
        CHECK(bytes.substr(0, 4) == "GSDM");
        const Message back = decode(bytes);
        REQUIRE(back.index() == message.index());
        /* The encoding holds every field: equal bytes, equal messages. */
        CHECK(encode(back) == bytes);
    }
    const auto inputs = std::get<Inputs>(decode(encode(Inputs{everyInput()}))).inputs;
    const auto expected = everyInput();
    REQUIRE(inputs.size() == expected.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
        CAPTURE(i);
        CHECK(inputs[i].index() == expected[i].index());
        CHECK(encodeInput(inputs[i]) == encodeInput(expected[i]));
    }
    /* Spot checks that the fields are the values, not just equal bytes. */
    const auto &request = std::get<ClientRequest>(std::get<Event>(inputs[1]));
    CHECK(request.client == 11);
    CHECK(request.requestId == 99);
    CHECK(std::get<JoinRequest>(request.request).localName == "provider");
    CHECK(std::get<JoinRequest>(request.request).attributes.groupName == "group.a");
    const auto &voted =
        std::get<VoteRequest>(std::get<ClientRequest>(std::get<Event>(inputs[2])).request);
    CHECK(*voted.proposedState == std::string("st\0ate", 6));
    const auto &reload = std::get<cmm::ConfigReload>(std::get<CmmRequest>(inputs[15]).change);
    CHECK(reload.table ==
          std::get<cmm::ConfigReload>(std::get<CmmRequest>(expected[15]).change).table);
    CHECK(std::get<NodeGone>(std::get<Event>(inputs[9])).node == 32767);
    CHECK(std::get<NodeJoined>(std::get<Event>(inputs.back())).node == 7);
    CHECK(std::get<cmm::SetQualif>(std::get<CmmRequest>(inputs[12]).change).qualif == -5);
    const auto state = std::get<State>(decode(encode(State{7, 4242, 9, 2, true, false, 1})));
    CHECK(state == State{7, 4242, 9, 2, true, false, 1});
    State unsynced{7, 4242, 10, 2, false, true, 1};
    unsynced.settingsDigest = 0x0123456789abcdefu;
    CHECK(std::get<State>(decode(encode(unsynced))) == unsynced);
}

TEST_CASE("a STATE of revision 0 has no settings digest: it reads as 0")
{
    State unsynced{7, 4242, 10, 2, false, true, 1};
    unsynced.settingsDigest = 0x0123456789abcdefu;
    std::string bytes = encode(unsynced);
    bytes[7] = 0;
    bytes.resize(bytes.size() - 8);
    unsynced.settingsDigest = 0;
    CHECK(std::get<State>(decode(bytes)) == unsynced);
    /* Of revision 1, the digest is part of the message. */
    bytes[7] = 1;
    CHECK_THROWS_AS(decode(bytes), DecodeError);
}

TEST_CASE("batches built from encoded inputs decode like whole messages")
{
    std::string encoded;
    for (const Input &input : everyInput())
        appendInput(input, encoded);
    const auto count = static_cast<uint32_t>(everyInput().size());
    CHECK(encodeInputs(encoded, count) == encode(Inputs{everyInput()}));
}

TEST_CASE("malformed messages are refused")
{
    const std::string good = encode(Inputs{everyInput()});
    /* Every truncation. */
    for (size_t size = 0; size < good.size(); ++size) {
        CAPTURE(size);
        CHECK_THROWS_AS(decode(good.substr(0, size)), DecodeError);
    }
    CHECK_THROWS_AS(decode(good + "x"), DecodeError);
    std::string badMagic = good;
    badMagic[0] = 'X';
    CHECK_THROWS_AS(decode(badMagic), DecodeError);
    std::string badKind = encode(DigestProbe{1});
    badKind[6] = 99;
    CHECK_THROWS_AS(decode(badKind), DecodeError);

    std::string badBool = encode(State{1, 2, 3, 4, true, true, 1});
    badBool[8 + 20] = 2; /* synced */
    CHECK_THROWS_WITH_AS(decode(badBool), doctest::Contains("boolean"), DecodeError);

    std::string badNode = encode(Inputs{{Event{NodeGone{5}}}});
    badNode[8 + 4 + 2] = 0;
    badNode[8 + 4 + 3] = 0; /* node 0 */
    CHECK_THROWS_WITH_AS(decode(badNode), doctest::Contains("out of range"), DecodeError);

    std::string badInput = encode(Inputs{{Event{NodeGone{5}}}});
    badInput[8 + 4] = 9; /* input kind */
    CHECK_THROWS_AS(decode(badInput), DecodeError);

    std::string badCmm = encode(Inputs{{CmmNodeInput{cmm::NodeUp{1}}}});
    badCmm[8 + 4 + 1] = 12; /* cmm event kind */
    CHECK_THROWS_AS(decode(badCmm), DecodeError);

    std::string badFlags =
        encode(Inputs{{CmmNodeInput{cmm::ConfigReload{1, {cmm::NodeConfig{}}}}}});
    badFlags.back() = 32;
    CHECK_THROWS_WITH_AS(decode(badFlags), doctest::Contains("flags"), DecodeError);

    /* A huge count is refused before anything is reserved. */
    std::string hugeCount = encode(Inputs{});
    hugeCount[8] = hugeCount[9] = hugeCount[10] = hugeCount[11] = '\xff';
    CHECK_THROWS_WITH_AS(decode(hugeCount), doctest::Contains("overruns"), DecodeError);

    /* A client request is checked by the client decoder. */
    std::string badRequest = encode(Inputs{{Event{ClientRequest{1, 2, GoodbyeRequest{3}}}}});
    badRequest.back() = '\xc1'; /* never used in MessagePack */
    CHECK_THROWS_WITH_AS(decode(badRequest), doctest::Contains("client request"), DecodeError);

    std::string chunk = encode(SnapChunk{1, 0, std::string(kMaxChunkBytes + 1, 'x')});
    CHECK_THROWS_WITH_AS(decode(chunk), doctest::Contains("chunk"), DecodeError);
}

TEST_CASE("format versions: another major is refused by name, a newer revision's fields are "
          "skipped")
{
    std::string other = encode(DigestProbe{1});
    other[4] = 2;
    try {
        decode(other);
        FAIL("decoded a message of format 2");
    } catch (const ForeignFormat &error) {
        CHECK(error.version == 2);
        CHECK(std::string(error.what()).find("format 2") != std::string::npos);
    }
    std::string newer = encode(DigestReport{3, 4});
    newer[7] = kFormatRevision + 1;
    newer += "a field of revision 1";
    CHECK(std::get<DigestReport>(decode(newer)) == DigestReport{3, 4});
    /* Of this revision, the same bytes are an error. */
    std::string same = encode(DigestReport{3, 4}) + "x";
    CHECK_THROWS_AS(decode(same), DecodeError);
}
