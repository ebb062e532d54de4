/* SPDX-License-Identifier: MIT */
#include "gsd/cluster_message.hpp"

#include "common/overloaded.hpp"
#include "common/wire.hpp"

#include <fmt/format.h>

#include <cstring>
#include <limits>

namespace gs::cluster {

namespace {

constexpr std::string_view kMagic = "GSDM";
constexpr size_t kHeaderSize = 4 + 2 + 1 + 1;

enum Kind : uint8_t {
    kInputs = 1,
    kState = 2,
    kSnapBegin = 3,
    kSnapChunk = 4,
    kSnapEnd = 5,
    kDigestProbe = 6,
    kDigestReport = 7,
};

/* Which alternative of Input, then of Event or cmm::Event. */
enum InputKind : uint8_t { kEvent = 0, kCmmRequest = 1, kCmmNodeInput = 2 };

/* ---- writing ---- */

class Writer {
  public:
    explicit Writer(std::string &out) : out_(out) {}
    void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void boolean(bool v) { u8(v ? 1 : 0); }
    void u16(uint16_t v) { little(v, 2); }
    void u32(uint32_t v) { little(v, 4); }
    void u64(uint64_t v) { little(v, 8); }
    void i16(int16_t v) { u16(static_cast<uint16_t>(v)); }
    void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
    void bytes(std::string_view v)
    {
        if (v.size() > std::numeric_limits<uint32_t>::max())
            throw std::length_error("a field of an inter-node message exceeds 4 GiB");
        u32(static_cast<uint32_t>(v.size()));
        out_.append(v);
    }

  private:
    void little(uint64_t v, int size)
    {
        for (int i = 0; i < size; ++i)
            out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
    std::string &out_;
};

void header(Writer &w, std::string &out, Kind kind)
{
    out.append(kMagic);
    w.u16(kFormatVersion);
    w.u8(kind);
    w.u8(kFormatRevision);
}

void writeCmm(Writer &w, const cmm::Event &event)
{
    w.u8(static_cast<uint8_t>(event.index()));
    std::visit(Overloaded{
                   [&](const cmm::NodeUp &e) { w.u32(e.node); },
                   [&](const cmm::NodeDown &e) { w.u32(e.node); },
                   [&](const cmm::RemoveSelf &e) { w.u32(e.caller); },
                   [&](const cmm::MastershipRelease &e) { w.u32(e.caller); },
                   [&](const cmm::SetQualif &e) {
                       w.u32(e.caller);
                       w.u32(e.target);
                       w.i32(e.qualif);
                   },
                   [&](const cmm::SeizeQualif &e) { w.u32(e.caller); },
                   [&](const cmm::ConfigReload &e) {
                       w.u32(e.caller);
                       w.u32(static_cast<uint32_t>(e.table.size()));
                       for (const cmm::NodeConfig &row : e.table) {
                           w.u32(row.id);
                           w.bytes(row.name);
                           w.bytes(row.address);
                           w.u32(row.domain);
                           w.bytes(row.softwareLoad);
                           w.u8(static_cast<uint8_t>((row.eligible ? 1 : 0) | (row.frozen ? 2 : 0) |
                                                     (row.excluded ? 4 : 0) |
                                                     (row.disqualified ? 8 : 0) |
                                                     (row.synchroNeeded ? 16 : 0)));
                       }
                   },
                   [&](const cmm::ClusterStale &) {},
                   [&](const cmm::ClusterInvalid &) {},
                   [&](const cmm::ClusterValid &) {},
                   [&](const cmm::NodeEligibility &e) {
                       w.u32(e.caller);
                       w.boolean(e.eligible);
                   },
                   /* Never multicast: each replica makes it at the cut of
                    * a state transfer; encoded because every event is. */
                   [&](const cmm::NodeBack &e) { w.u32(e.node); },
               },
               event);
}

void writeEvent(Writer &w, const Event &event)
{
    w.u8(static_cast<uint8_t>(event.index()));
    std::visit(
        Overloaded{
            [&](const ClientHello &e) {
                w.u64(e.client);
                w.boolean(e.deactivateScript);
            },
            [&](const ClientRequest &e) {
                /* The client's own encoding: on delivery it is
                 * checked by the decoder every request meets. */
                w.u64(e.client);
                w.bytes(wire::encode(wire::ClientMessage{wire::Req{e.requestId, e.request}}));
            },
            [&](const ClientGone &e) { w.u64(e.client); },
            [&](const ClientUnresponsive &e) { w.u64(e.client); },
            [&](const TimerFired &e) { w.u64(e.timer); },
            [&](const DeactivateFinished &e) {
                w.u64(e.run);
                w.u32(e.outcome);
            },
            [&](const NodeGone &e) { w.i16(e.node); },
            [&](const NodeJoined &e) { w.i16(e.node); },
        },
        event);
}

/* ---- reading ---- */

class Reader {
  public:
    explicit Reader(std::string_view in) : in_(in) {}
    uint8_t u8() { return static_cast<uint8_t>(take(1)[0]); }
    bool boolean()
    {
        const uint8_t v = u8();
        if (v > 1)
            throw DecodeError(fmt::format("a boolean field holds {}", v));
        return v == 1;
    }
    uint16_t u16() { return static_cast<uint16_t>(little(2)); }
    uint32_t u32() { return static_cast<uint32_t>(little(4)); }
    uint64_t u64() { return little(8); }
    int16_t i16() { return static_cast<int16_t>(u16()); }
    int32_t i32() { return static_cast<int32_t>(u32()); }
    std::string_view bytes() { return take(u32()); }
    /* A count of items of at least `minSize` bytes each: never more than
     * what is left could hold, so no huge reservation on a lie. */
    uint32_t count(size_t minSize)
    {
        const uint32_t n = u32();
        if (n > remaining() / minSize)
            throw DecodeError(fmt::format("a count of {} items overruns the message", n));
        return n;
    }
    size_t remaining() const { return in_.size() - pos_; }

  private:
    std::string_view take(size_t n)
    {
        if (n > remaining())
            throw DecodeError("truncated inter-node message");
        const std::string_view out = in_.substr(pos_, n);
        pos_ += n;
        return out;
    }
    uint64_t little(int size)
    {
        const std::string_view raw = take(static_cast<size_t>(size));
        uint64_t v = 0;
        for (int i = 0; i < size; ++i)
            v |= static_cast<uint64_t>(static_cast<uint8_t>(raw[static_cast<size_t>(i)]))
                 << (8 * i);
        return v;
    }
    std::string_view in_;
    size_t pos_ = 0;
};

cmm::Event readCmm(Reader &r)
{
    switch (const uint8_t kind = r.u8()) {
    case 0:
        return cmm::NodeUp{r.u32()};
    case 1:
        return cmm::NodeDown{r.u32()};
    case 2:
        return cmm::RemoveSelf{r.u32()};
    case 3:
        return cmm::MastershipRelease{r.u32()};
    case 4: {
        cmm::SetQualif e;
        e.caller = r.u32();
        e.target = r.u32();
        e.qualif = r.i32();
        return e;
    }
    case 5:
        return cmm::SeizeQualif{r.u32()};
    case 6: {
        cmm::ConfigReload e;
        e.caller = r.u32();
        /* A row is at least 4 + 4 + 4 + 4 + 4 + 1 bytes. */
        const uint32_t rows = r.count(21);
        e.table.reserve(rows);
        for (uint32_t i = 0; i < rows; ++i) {
            cmm::NodeConfig row;
            row.id = r.u32();
            row.name = r.bytes();
            row.address = r.bytes();
            row.domain = r.u32();
            row.softwareLoad = r.bytes();
            const uint8_t flags = r.u8();
            if (flags > 31)
                throw DecodeError(fmt::format("unknown node table flags {:#x}", flags));
            row.eligible = flags & 1;
            row.frozen = flags & 2;
            row.excluded = flags & 4;
            row.disqualified = flags & 8;
            row.synchroNeeded = flags & 16;
            e.table.push_back(std::move(row));
        }
        return e;
    }
    case 7:
        return cmm::ClusterStale{};
    case 8:
        return cmm::ClusterInvalid{};
    case 9:
        return cmm::ClusterValid{};
    case 10: {
        cmm::NodeEligibility e;
        e.caller = r.u32();
        e.eligible = r.boolean();
        return e;
    }
    case 11:
        return cmm::NodeBack{r.u32()};
    default:
        throw DecodeError(fmt::format("unknown CMM event kind {}", kind));
    }
}

Event readEvent(Reader &r)
{
    switch (const uint8_t kind = r.u8()) {
    case 0: {
        ClientHello e;
        e.client = r.u64();
        e.deactivateScript = r.boolean();
        return e;
    }
    case 1: {
        ClientRequest e;
        e.client = r.u64();
        const std::string_view frame = r.bytes();
        wire::ClientMessage message;
        try {
            message = wire::decodeClientMessage(frame);
        } catch (const wire::DecodeError &error) {
            throw DecodeError(std::string("a client request: ") + error.what());
        }
        auto *req = std::get_if<wire::Req>(&message);
        if (req == nullptr)
            throw DecodeError("a client request holds another client message");
        e.requestId = req->id;
        e.request = std::move(req->request);
        return e;
    }
    case 2:
        return ClientGone{r.u64()};
    case 3:
        return ClientUnresponsive{r.u64()};
    case 4:
        return TimerFired{r.u64()};
    case 5: {
        DeactivateFinished e;
        e.run = r.u64();
        e.outcome = r.u32();
        return e;
    }
    case 6: {
        const int16_t node = r.i16();
        if (node < 1)
            throw DecodeError(fmt::format("node number {} out of range 1..32767", node));
        return NodeGone{node};
    }
    case 7: {
        const int16_t node = r.i16();
        if (node < 1)
            throw DecodeError(fmt::format("node number {} out of range 1..32767", node));
        return NodeJoined{node};
    }
    default:
        throw DecodeError(fmt::format("unknown engine event kind {}", kind));
    }
}

Input readInput(Reader &r)
{
    switch (const uint8_t kind = r.u8()) {
    case kEvent:
        return readEvent(r);
    case kCmmRequest: {
        CmmRequest e;
        e.client = r.u64();
        e.requestId = r.u64();
        e.change = readCmm(r);
        return e;
    }
    case kCmmNodeInput:
        return CmmNodeInput{readCmm(r)};
    default:
        throw DecodeError(fmt::format("unknown input kind {}", kind));
    }
}

} // namespace

void appendInput(const Input &input, std::string &out)
{
    Writer w(out);
    std::visit(Overloaded{
                   [&](const Event &e) {
                       w.u8(kEvent);
                       writeEvent(w, e);
                   },
                   [&](const CmmRequest &e) {
                       w.u8(kCmmRequest);
                       w.u64(e.client);
                       w.u64(e.requestId);
                       writeCmm(w, e.change);
                   },
                   [&](const CmmNodeInput &e) {
                       w.u8(kCmmNodeInput);
                       writeCmm(w, e.event);
                   },
               },
               input);
}

std::string encodeInput(const Input &input)
{
    std::string out;
    appendInput(input, out);
    return out;
}

std::string encodeInputs(std::string_view encodedInputs, uint32_t count)
{
    std::string out;
    out.reserve(kHeaderSize + 4 + encodedInputs.size());
    Writer w(out);
    header(w, out, kInputs);
    w.u32(count);
    out.append(encodedInputs);
    return out;
}

bool isInputs(std::string_view bytes)
{
    return bytes.size() >= kHeaderSize && bytes.substr(0, 4) == kMagic &&
           static_cast<uint8_t>(bytes[6]) == kInputs;
}

std::string encode(const Message &message)
{
    std::string out;
    Writer w(out);
    std::visit(Overloaded{
                   [&](const Inputs &m) {
                       header(w, out, kInputs);
                       w.u32(static_cast<uint32_t>(m.inputs.size()));
                       for (const Input &input : m.inputs)
                           appendInput(input, out);
                   },
                   [&](const State &m) {
                       header(w, out, kState);
                       w.u32(m.node);
                       w.u32(m.pid);
                       w.u64(m.seq);
                       w.u32(m.syncs);
                       w.boolean(m.synced);
                       w.boolean(m.quorate);
                       w.u16(m.formatVersion);
                       w.u64(m.view);
                       w.boolean(m.uncertain);
                       w.u64(m.settingsDigest);
                   },
                   [&](const SnapBegin &m) {
                       header(w, out, kSnapBegin);
                       w.u64(m.tag);
                   },
                   [&](const SnapChunk &m) {
                       header(w, out, kSnapChunk);
                       w.u64(m.tag);
                       w.u32(m.seq);
                       w.bytes(m.bytes);
                   },
                   [&](const SnapEnd &m) {
                       header(w, out, kSnapEnd);
                       w.u64(m.tag);
                       w.u32(m.chunks);
                       w.u64(m.size);
                       w.u64(m.digest);
                   },
                   [&](const DigestProbe &m) {
                       header(w, out, kDigestProbe);
                       w.u64(m.seq);
                   },
                   [&](const DigestReport &m) {
                       header(w, out, kDigestReport);
                       w.u64(m.seq);
                       w.u64(m.digest);
                   },
               },
               message);
    return out;
}

Message decode(std::string_view bytes)
{
    if (bytes.size() < kHeaderSize || bytes.substr(0, 4) != kMagic)
        throw DecodeError("not a gsd inter-node message (no GSDM header)");
    Reader r(bytes.substr(4));
    const uint16_t version = r.u16();
    const uint8_t kind = r.u8();
    const uint8_t revision = r.u8();
    if (version != kFormatVersion)
        throw ForeignFormat(version, fmt::format("a message of inter-node format {}; this gsd "
                                                 "speaks format {}",
                                                 version, kFormatVersion));
    Message message;
    switch (kind) {
    case kInputs: {
        Inputs m;
        const uint32_t count = r.count(2); /* an input is at least 2 bytes */
        m.inputs.reserve(count);
        for (uint32_t i = 0; i < count; ++i)
            m.inputs.push_back(readInput(r));
        message = std::move(m);
        break;
    }
    case kState: {
        State m;
        m.node = r.u32();
        m.pid = r.u32();
        m.seq = r.u64();
        m.syncs = r.u32();
        m.synced = r.boolean();
        m.quorate = r.boolean();
        m.formatVersion = r.u16();
        m.view = r.u64();
        m.uncertain = r.boolean();
        if (revision >= 1)
            m.settingsDigest = r.u64();
        message = m;
        break;
    }
    case kSnapBegin:
        message = SnapBegin{r.u64()};
        break;
    case kSnapChunk: {
        SnapChunk m;
        m.tag = r.u64();
        m.seq = r.u32();
        m.bytes = r.bytes();
        if (m.bytes.size() > kMaxChunkBytes)
            throw DecodeError(fmt::format("a snapshot chunk of {} bytes (at most {})",
                                          m.bytes.size(), kMaxChunkBytes));
        message = std::move(m);
        break;
    }
    case kSnapEnd: {
        SnapEnd m;
        m.tag = r.u64();
        m.chunks = r.u32();
        m.size = r.u64();
        m.digest = r.u64();
        message = m;
        break;
    }
    case kDigestProbe:
        message = DigestProbe{r.u64()};
        break;
    case kDigestReport: {
        DigestReport m;
        m.seq = r.u64();
        m.digest = r.u64();
        message = m;
        break;
    }
    default:
        throw DecodeError(fmt::format("unknown inter-node message kind {}", kind));
    }
    /* Fields of a newer revision follow the ones this reader knows. */
    if (r.remaining() != 0 && revision <= kFormatRevision)
        throw DecodeError(
            fmt::format("{} bytes after the end of an inter-node message", r.remaining()));
    return message;
}

} // namespace gs::cluster
