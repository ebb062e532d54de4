/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the state a joiner receives from its donor
 * (gsd/broker_state.hpp), taken as the broker's restoreState takes it.
 *
 * decodeDomainState either throws StateRefused or returns a state that
 * survives a round trip: encoded again and decoded, it encodes to the same
 * bytes; a blob of this very format version (no appended minor fields) is
 * canonical, so its encoding is the input itself. The engine snapshots
 * inside then go to the engines' restore, which throws std::invalid_argument
 * or takes them (their own fuzzer, fuzz_restore, goes deeper).
 *
 * A changed byte almost always breaks the checksum, which would keep the
 * fuzzer away from the body's checks; so the input is also tried as a body
 * in an envelope with the right magic, version, length and checksum.
 */
#include "check.hpp"

#include "common/state_digest.hpp"
#include "engine/cmm_engine.hpp"
#include "engine/engine.hpp"
#include "gsd/broker_state.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

using namespace gs;
using gs::fuzz::check;

namespace {

template <typename T>
void put(std::string &out, T value)
{
    for (size_t i = 0; i < sizeof value; ++i)
        out.push_back(static_cast<char>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff));
}

std::string envelope(std::string_view body)
{
    std::string out = "GSDS";
    put<uint16_t>(out, broker::kDomainStateMajor);
    put<uint16_t>(out, broker::kDomainStateMinor);
    put<uint32_t>(out, static_cast<uint32_t>(body.size()));
    out += body;
    put<uint64_t>(out, digestOf(out));
    return out;
}

void tryBlob(std::string_view blob)
{
    broker::DomainState state;
    try {
        state = broker::decodeDomainState(blob);
    } catch (const StateRefused &) {
        return;
    }
    const std::string encoded = broker::encodeDomainState(state);
    broker::DomainState again;
    try {
        again = broker::decodeDomainState(encoded);
    } catch (const StateRefused &error) {
        fuzz::fail(std::string("a re-encoded domain state does not decode: ") + error.what());
    }
    check(broker::encodeDomainState(again) == encoded, "a round trip changed the domain state");
    const bool sameMinor = blob.size() >= 8 &&
                           static_cast<uint8_t>(blob[6]) == broker::kDomainStateMinor &&
                           blob[7] == 0;
    if (sameMinor)
        check(encoded == blob, "a blob of this format version is not canonical");

    Engine engine;
    try {
        engine.restore(state.engine);
    } catch (const std::invalid_argument &) {
    }
    cmm::Engine cmmEngine;
    try {
        cmmEngine.restore(state.cmm);
    } catch (const std::invalid_argument &) {
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const std::string_view bytes(reinterpret_cast<const char *>(data), size);
    tryBlob(bytes);
    tryBlob(envelope(bytes));
    return 0;
}
