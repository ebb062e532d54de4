/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what a gsd reads from the other nodes of its domain
 * (gsd/cluster_message.hpp), taken as gsd/domain_sync.cpp takes it.
 *
 * The input is one CPG message. decode either throws DecodeError (or its
 * ForeignFormat) or returns a message that survives a round trip: encode,
 * decode again, and the second encoding equals the first. An INPUTS batch
 * also re-encodes input by input to the same bytes (encodeInputs), as the
 * sender builds it.
 */
#include "check.hpp"

#include "gsd/cluster_message.hpp"

#include <string>
#include <string_view>
#include <variant>

using namespace gs;
using gs::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const std::string_view bytes(reinterpret_cast<const char *>(data), size);
    cluster::Message message;
    try {
        message = cluster::decode(bytes);
    } catch (const cluster::DecodeError &) {
        return 0;
    }
    const std::string encoded = cluster::encode(message);
    cluster::Message again;
    try {
        again = cluster::decode(encoded);
    } catch (const cluster::DecodeError &error) {
        fuzz::fail(std::string("a re-encoded message does not decode: ") + error.what());
    }
    check(again.index() == message.index(), "the kind changed in a round trip");
    check(cluster::encode(again) == encoded, "a round trip changed the message");
    if (const auto *inputs = std::get_if<cluster::Inputs>(&message)) {
        std::string batch;
        for (const Input &input : inputs->inputs)
            cluster::appendInput(input, batch);
        check(cluster::encodeInputs(batch, static_cast<uint32_t>(inputs->inputs.size())) == encoded,
              "a batch built input by input differs");
    }
    return 0;
}
