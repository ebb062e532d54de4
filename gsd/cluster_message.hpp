/* SPDX-License-Identifier: MIT */
/*
 * The messages gsd nodes multicast to one another through Corosync CPG
 * (docs/wire-protocol.md, "Between nodes"): batches of engine inputs, the
 * sync protocol's STATE and snapshot messages, and the divergence check.
 *
 * Every message starts with a header: the magic "GSDM", a u16 format
 * version (major: a reader refuses another), a u8 kind and a u8 revision
 * (minor: fields a newer revision adds are appended at the end of a
 * message, and a reader of an older revision skips them). Integers are
 * little-endian. Decoders are strict: truncation, bytes after the last
 * field (at a revision this reader knows), unknown kinds and values out of
 * range throw DecodeError; a message of another format version throws
 * ForeignFormat, which says which.
 */
#pragma once

#include "gsd/order.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gs::cluster {

constexpr uint16_t kFormatVersion = 1;
constexpr uint8_t kFormatRevision = 0;

/* Largest INPUTS message a node multicasts; more inputs go in more
 * messages. An input larger than this goes alone. */
constexpr size_t kMaxBatchBytes = 64 * 1024;
/* Largest piece of a snapshot in one SNAP_CHUNK. */
constexpr size_t kMaxChunkBytes = 256 * 1024;

/* A batch of engine inputs of one node, delivered in this order. */
struct Inputs {
    std::vector<Input> inputs;
};
/* A node's standing, multicast on every membership change and whenever it
 * becomes quorate while unsynced (gsd/domain_sync.hpp). */
struct State {
    uint32_t node = 0;
    uint32_t pid = 0;
    uint64_t seq = 0; /* counts the sender's STATE messages: tags a decision */
    /* How many times the sender became synced (or was sent a state): a
     * "not synced" sent before the latest of them is stale. */
    uint32_t syncs = 0;
    bool synced = false;
    bool quorate = false;
    uint16_t formatVersion = kFormatVersion;
    /* A synced sender's view of the synced members (digest of their
     * ascending node and pid): members of one domain send the same; two
     * values among synced senders mean two sides met. */
    uint64_t view = 0;
    bool operator==(const State &) const = default;
};
/* The donor's cut: a joiner buffers what is delivered after it. */
struct SnapBegin {
    uint64_t tag = 0;
    bool operator==(const SnapBegin &) const = default;
};
struct SnapChunk {
    uint64_t tag = 0;
    uint32_t seq = 0; /* 0, 1, ... */
    std::string bytes;
    bool operator==(const SnapChunk &) const = default;
};
struct SnapEnd {
    uint64_t tag = 0;
    uint32_t chunks = 0;
    uint64_t size = 0;
    uint64_t digest = 0; /* digestOf(the whole blob) */
    bool operator==(const SnapEnd &) const = default;
};
/* The timekeeper asks every synced node for its state digest at the point
 * of the probe's delivery. */
struct DigestProbe {
    uint64_t seq = 0;
    bool operator==(const DigestProbe &) const = default;
};
struct DigestReport {
    uint64_t seq = 0;
    uint64_t digest = 0;
    bool operator==(const DigestReport &) const = default;
};

using Message =
    std::variant<Inputs, State, SnapBegin, SnapChunk, SnapEnd, DigestProbe, DigestReport>;

struct DecodeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
/* A well-formed header of a format version this gsd does not speak. */
struct ForeignFormat : DecodeError {
    ForeignFormat(uint16_t v, const std::string &what) : DecodeError(what), version(v) {}
    uint16_t version;
};

std::string encode(const Message &message);
Message decode(std::string_view bytes);

/* One input's encoding, as it appears in an INPUTS message: its size
 * decides how inputs are batched. */
std::string encodeInput(const Input &input);
/* Appends encodeInput(input) to `out`. */
void appendInput(const Input &input, std::string &out);
/* An INPUTS message from inputs already encoded with appendInput. */
std::string encodeInputs(std::string_view encodedInputs, uint32_t count);
/* Whether encoded bytes are an INPUTS message (this format version). */
bool isInputs(std::string_view bytes);

} // namespace gs::cluster
