/* SPDX-License-Identifier: MIT */
/*
 * MessagePack codec for the gsd wire protocol (docs/wire-protocol.md).
 *
 * Every struct is described once, by a `describe` function that names its
 * fields with their wire keys. The same description drives the encoder and
 * the strict decoder, so the two cannot drift apart. Variants carry their
 * alternative's name under the key "t".
 */
#include "common/wire.hpp"

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

namespace gs::wire {
namespace {

/* Deepest nesting a valid frame has is 5 (note, proposal, attributes or
 * provider list, provider pair); the parser recurses per level, so a hostile
 * frame of nested arrays must be cut off long before the stack runs out. */
constexpr std::size_t kMaxDepth = 16;

constexpr const char *kTagKey = "t";

template <class S, class T>
concept Is = std::same_as<std::remove_const_t<S>, T>;

template <class T>
inline constexpr bool kIsOptional = false;
template <class T>
inline constexpr bool kIsOptional<std::optional<T>> = true;

/* Marks a std::string (or optional one) that holds application bytes, sent
 * as MessagePack bin rather than str. */
template <class T>
struct Bin {
    T &ref;
};
template <class T>
Bin<T> bin(T &ref)
{
    return {ref};
}

/* Marks a field added after version 1 of a message: always encoded, and a
 * frame without it decodes to the value the structure starts with. */
template <class T>
struct Defaulted {
    T &ref;
};
template <class T>
Defaulted<T> defaulted(T &ref)
{
    return {ref};
}

/* ---- Variant alternative names ---------------------------------------- */

template <class T>
inline constexpr const char *kTag = nullptr;

template <>
inline constexpr const char *kTag<Hello> = "hello";
template <>
inline constexpr const char *kTag<Req> = "req";
template <>
inline constexpr const char *kTag<Pong> = "pong";
template <>
inline constexpr const char *kTag<Quit> = "quit";
template <>
inline constexpr const char *kTag<Ack> = "ack";

template <>
inline constexpr const char *kTag<CmmReq> = "cmmreq";
template <>
inline constexpr const char *kTag<CmmReply> = "cmmreply";
template <>
inline constexpr const char *kTag<CmmNote> = "cmmnote";

template <>
inline constexpr const char *kTag<AdminReq> = "adminreq";
template <>
inline constexpr const char *kTag<AdminReply> = "adminreply";
template <>
inline constexpr const char *kTag<AdminEvent> = "adminevent";

template <>
inline constexpr const char *kTag<Welcome> = "welcome";
template <>
inline constexpr const char *kTag<ReplyMsg> = "reply";
template <>
inline constexpr const char *kTag<NoteHeader> = "note";
template <>
inline constexpr const char *kTag<Ping> = "ping";
template <>
inline constexpr const char *kTag<Bye> = "bye";
template <>
inline constexpr const char *kTag<Mark> = "mark";

template <>
inline constexpr const char *kTag<JoinRequest> = "join";
template <>
inline constexpr const char *kTag<LeaveRequest> = "leave";
template <>
inline constexpr const char *kTag<GoodbyeRequest> = "goodbye";
template <>
inline constexpr const char *kTag<ExpelRequest> = "expel";
template <>
inline constexpr const char *kTag<StateChangeRequest> = "state";
template <>
inline constexpr const char *kTag<MessageRequest> = "msg";
template <>
inline constexpr const char *kTag<AttributeChangeRequest> = "attr";
template <>
inline constexpr const char *kTag<VoteRequest> = "vote";
template <>
inline constexpr const char *kTag<SubscribeRequest> = "sub";
template <>
inline constexpr const char *kTag<UnsubscribeRequest> = "unsub";

template <>
inline constexpr const char *kTag<NPhaseNote> = "nphase";
template <>
inline constexpr const char *kTag<ApprovedNote> = "approved";
template <>
inline constexpr const char *kTag<RejectedNote> = "rejected";
template <>
inline constexpr const char *kTag<AnnouncementNote> = "announce";
template <>
inline constexpr const char *kTag<SubscriptionNote> = "subscription";
template <>
inline constexpr const char *kTag<DelayedErrorNote> = "delayed";

template <class T>
constexpr const char *tagOf()
{
    static_assert(kTag<T> != nullptr, "every variant alternative needs a wire name");
    return kTag<T>;
}

/* ---- Field descriptions (shared by encoder and decoder) --------------- */

void describe(Is<GroupAttributes> auto &s, auto &v)
{
    v("v", s.version);
    v("sz", s.sizeofAttributes);
    v("cv", s.clientVersion);
    v("bc", s.batchControl);
    v("np", s.numPhases);
    v("rnp", s.sourceReflectionNumPhases);
    v("dv", s.defaultVote);
    v("mc", s.mergeControl);
    v("tl", s.timeLimit);
    v("rtl", s.sourceReflectionTimeLimit);
    v("g", s.groupName);
    v("sg", s.sourceGroupName);
}

/* Fields common to every provider-initiated proposal. */
void describeProposal(auto &s, auto &v)
{
    v("tk", s.token);
    v("np", s.numPhases);
    v("tl", s.timeLimit);
}

void describe(Is<JoinRequest> auto &s, auto &v)
{
    v("a", s.attributes);
    v("i", s.instance);
    v("ln", s.localName);
}
void describe(Is<LeaveRequest> auto &s, auto &v)
{
    describeProposal(s, v);
    v("lc", s.leaveCode);
}
void describe(Is<GoodbyeRequest> auto &s, auto &v)
{
    v("tk", s.token);
}
void describe(Is<ExpelRequest> auto &s, auto &v)
{
    describeProposal(s, v);
    v("el", s.expelList);
    v("dp", s.deactivatePhase);
    v("df", s.deactivateFlag);
}
void describe(Is<StateChangeRequest> auto &s, auto &v)
{
    describeProposal(s, v);
    v("s", bin(s.newState));
}
void describe(Is<MessageRequest> auto &s, auto &v)
{
    describeProposal(s, v);
    v("m", bin(s.message));
}
void describe(Is<AttributeChangeRequest> auto &s, auto &v)
{
    describeProposal(s, v);
    v("a", s.attributes);
}
void describe(Is<VoteRequest> auto &s, auto &v)
{
    v("tk", s.token);
    v("v", s.vote);
    v("s", bin(s.proposedState));
    v("m", bin(s.message));
    v("dv", s.defaultVote);
}
void describe(Is<SubscribeRequest> auto &s, auto &v)
{
    v("c", s.control);
    v("g", s.group);
}
void describe(Is<UnsubscribeRequest> auto &s, auto &v)
{
    v("tk", s.token);
}

void describe(Is<Hello> auto &s, auto &v)
{
    v("v", s.version);
    v("k", defaulted(s.kind));
    v("d", s.domain);
    v("rt", s.responsivenessType);
    v("ri", s.responsivenessInterval);
    v("rl", s.responsivenessTimeLimit);
    v("b", defaulted(s.batches));
    v("p", defaulted(s.packs));
    v("ds", s.deactivateScript);
    v("ca", defaulted(s.counterAddress));
    v("cl", defaulted(s.counterLength));
}
void describe(Is<Req> auto &s, auto &v)
{
    v("id", s.id);
    v("r", s.request);
}
void describe(Is<Pong> auto &s, auto &v)
{
    v("seq", s.seq);
}
void describe(Is<Quit> auto &, auto &) {}
void describe(Is<Ack> auto &s, auto &v)
{
    v("k", s.key);
}

void describe(Is<CmmReq> auto &s, auto &v)
{
    v("id", s.id);
    v("op", s.op);
    v("n", s.node);
    v("q", s.qualif);
}
void describe(Is<CmmMember> auto &s, auto &v)
{
    v("n", s.nodeid);
    v("nm", s.name);
    v("a", s.addr);
    v("d", s.domainid);
    v("f", s.sflag);
    v("i", s.incarnation);
    v("sw", s.softwareLoadId);
}
void describe(Is<CmmReply> auto &s, auto &v)
{
    v("id", s.id);
    v("rc", s.rc);
    v("n", s.node);
    v("c", s.count);
    v("m", s.members);
}
void describe(Is<CmmNote> auto &s, auto &v)
{
    v("ch", s.change);
    v("n", s.node);
}

void describe(Is<AdminReq> auto &s, auto &v)
{
    v("id", s.id);
    v("q", s.query);
    v("gn", s.group);
}
void describe(Is<AdminReply> auto &s, auto &v)
{
    v("id", s.id);
    v("rc", s.rc);
    v("x", s.text);
}
void describe(Is<AdminEvent> auto &s, auto &v)
{
    v("x", s.text);
}

void describe(Is<Welcome> auto &s, auto &v)
{
    v("rc", s.rc);
    v("n", s.node);
    v("d", s.domain);
    v("c", s.client);
}
void describe(Is<ReplyMsg> auto &s, auto &v)
{
    v("id", s.id);
    v("rc", s.rc);
    v("tk", s.token);
}
void describe(Is<NoteHeader> auto &s, auto &v)
{
    v("tk", s.token);
    v("f", s.final);
}
void describe(Is<Ping> auto &s, auto &v)
{
    v("seq", s.seq);
}
void describe(Is<Bye> auto &s, auto &v)
{
    v("why", s.reason);
}
void describe(Is<Mark> auto &s, auto &v)
{
    v("k", s.key);
}

void describe(Is<LeaveInfo> auto &s, auto &v)
{
    v("lc", s.leaveCode);
    v("r", s.reason);
}
void describe(Is<ExpelInfo> auto &s, auto &v)
{
    v("dp", s.deactivatePhase);
    v("df", s.deactivateFlag);
}
void describe(Is<Proposal> auto &s, auto &v)
{
    v("pn", s.phaseNumber);
    v("np", s.numPhases);
    v("os", bin(s.oldState));
    v("ps", bin(s.proposedState));
    v("m", bin(s.message));
    v("cp", s.currentProviders);
    v("chp", s.changingProviders);
    v("li", s.leaveInfo);
    v("ei", s.expelInfo);
    v("pa", s.proposedAttributes);
    v("ss", bin(s.sourceState));
}
void describe(Is<NPhaseNote> auto &s, auto &v)
{
    v("p", s.protocol);
    v("sc", s.summary);
    v("tl", s.timeLimit);
    v("pr", s.proposal);
}
void describe(Is<ApprovedNote> auto &s, auto &v)
{
    v("p", s.protocol);
    v("sc", s.summary);
    v("pr", s.proposal);
}
void describe(Is<RejectedNote> auto &s, auto &v)
{
    v("p", s.protocol);
    v("sc", s.summary);
    v("pr", s.proposal);
}
void describe(Is<AnnouncementNote> auto &s, auto &v)
{
    v("sc", s.summary);
    v("pv", s.providers);
}
void describe(Is<SubscriptionNote> auto &s, auto &v)
{
    v("ty", s.type);
    v("s", bin(s.state));
    v("fm", s.fullMembership);
    v("cm", s.changingMembership);
}
void describe(Is<DelayedErrorNote> auto &s, auto &v)
{
    v("p", s.protocol);
    v("rc", s.rc);
}

/* ---- MessagePack writer ------------------------------------------------ */

/* Appends MessagePack to a string, always in the smallest encoding of each
 * value (as nlohmann/json's to_msgpack does). */
class Writer {
  public:
    /* Appends to `out`, writing straight into its storage: the string is
     * grown ahead (doubling; a reused string keeps its capacity) and cut to
     * what was written when the writer goes away. */
    explicit Writer(std::string &out) : out_(out), pos_(out.size()) { out_.resize(pos_ + 64); }
    ~Writer() { out_.resize(pos_); }
    Writer(const Writer &) = delete;
    Writer &operator=(const Writer &) = delete;

    void mapHeader(std::size_t n) { sized(n, 0x80, 15, 0xde, 0xdf); }
    void arrayHeader(std::size_t n) { sized(n, 0x90, 15, 0xdc, 0xdd); }

    void str(std::string_view s)
    {
        const std::size_t n = s.size();
        if (n <= 31)
            byte(static_cast<std::uint8_t>(0xa0 | n));
        else if (n <= 0xff)
            be(0xd9, n, 1);
        else if (n <= 0xffff)
            be(0xda, n, 2);
        else
            be(0xdb, n, 4);
        put(s.data(), n);
    }

    void bin(std::string_view s)
    {
        const std::size_t n = s.size();
        if (n <= 0xff)
            be(0xc4, n, 1);
        else if (n <= 0xffff)
            be(0xc5, n, 2);
        else
            be(0xc6, n, 4);
        put(s.data(), n);
    }

    void uint(std::uint64_t v)
    {
        if (v <= 0x7f)
            byte(static_cast<std::uint8_t>(v));
        else if (v <= 0xff)
            be(0xcc, v, 1);
        else if (v <= 0xffff)
            be(0xcd, v, 2);
        else if (v <= 0xffffffffu)
            be(0xce, v, 4);
        else
            be(0xcf, v, 8);
    }

    void sint(std::int64_t v)
    {
        if (v >= 0)
            return uint(static_cast<std::uint64_t>(v));
        const auto bits = static_cast<std::uint64_t>(v);
        if (v >= -32)
            byte(static_cast<std::uint8_t>(bits));
        else if (v >= INT8_MIN)
            be(0xd0, bits, 1);
        else if (v >= INT16_MIN)
            be(0xd1, bits, 2);
        else if (v >= INT32_MIN)
            be(0xd2, bits, 4);
        else
            be(0xd3, bits, 8);
    }

    void boolean(bool b) { byte(b ? 0xc3 : 0xc2); }

  private:
    std::string &out_;
    std::size_t pos_; /* end of what was written; out_ is longer */

    /* Room for n more bytes at pos_; returns where they go. Called for
     * every byte written: the common case must inline to a compare. */
    [[gnu::always_inline]] char *room(std::size_t n)
    {
        if (out_.size() - pos_ < n) [[unlikely]]
            grow(n);
        char *at = out_.data() + pos_;
        pos_ += n;
        return at;
    }

    [[gnu::noinline]] void grow(std::size_t n) { out_.resize(std::max(out_.size() * 2, pos_ + n)); }

    void put(const char *data, std::size_t n)
    {
        if (n > 0)
            std::memcpy(room(n), data, n);
    }

    void byte(std::uint8_t b) { *room(1) = static_cast<char>(b); }

    /* A type byte and the low `width` bytes of `v`, big-endian. */
    void be(std::uint8_t type, std::uint64_t v, int width)
    {
        char *at = room(static_cast<std::size_t>(width) + 1);
        at[0] = static_cast<char>(type);
        for (int i = 0; i < width; ++i)
            at[1 + i] = static_cast<char>(v >> (8 * (width - 1 - i)));
    }

    void sized(std::size_t n, std::uint8_t fix, std::size_t fixMax, std::uint8_t t16,
               std::uint8_t t32)
    {
        if (n <= fixMax)
            byte(static_cast<std::uint8_t>(fix | n));
        else if (n <= 0xffff)
            be(t16, n, 2);
        else
            be(t32, n, 4);
    }
};

/* ---- Encoder ----------------------------------------------------------- */

/* Counts the map entries a description produces (unset optionals are
 * absent). */
class Counter {
  public:
    std::size_t entries = 0;

    template <class T>
    void operator()(const char *, const T &value)
    {
        if constexpr (kIsOptional<T>)
            entries += value ? 1 : 0;
        else
            ++entries;
    }
    template <class T>
    void operator()(const char *key, Bin<T> field)
    {
        (*this)(key, field.ref);
    }
    template <class T>
    void operator()(const char *, Defaulted<T>)
    {
        ++entries;
    }
};

/* Writes MessagePack straight from the structures, without an intermediate
 * document: a map per structure, the "t" key first in a variant's map. */
class Encoder {
  public:
    explicit Encoder(Writer &writer) : w_(writer) {}

    template <class T>
    void operator()(const char *key, const T &value)
    {
        if constexpr (kIsOptional<T>) {
            if (value) {
                w_.str(key);
                write(w_, *value);
            }
        } else {
            w_.str(key);
            write(w_, value);
        }
    }

    template <class T>
    void operator()(const char *key, Bin<T> field)
    {
        if constexpr (kIsOptional<std::remove_const_t<T>>) {
            if (field.ref) {
                w_.str(key);
                w_.bin(*field.ref);
            }
        } else {
            w_.str(key);
            w_.bin(field.ref);
        }
    }

    template <class T>
    void operator()(const char *key, Defaulted<T> field)
    {
        w_.str(key);
        write(w_, field.ref);
    }

    template <std::integral T>
    static void write(Writer &w, const T &value)
    {
        if constexpr (std::same_as<T, bool>)
            w.boolean(value);
        else if constexpr (std::is_signed_v<T>)
            w.sint(value);
        else
            w.uint(value);
    }

    static void write(Writer &w, const std::string &value) { w.str(value); }

    /* A provider is a pair: lists of a thousand providers stay compact. */
    static void write(Writer &w, const ProviderId &provider)
    {
        w.arrayHeader(2);
        w.sint(provider.instance);
        w.sint(provider.node);
    }

    template <class T>
    static void write(Writer &w, const std::vector<T> &items)
    {
        w.arrayHeader(items.size());
        for (const T &item : items)
            write(w, item);
    }

    template <class... Ts>
    static void write(Writer &w, const std::variant<Ts...> &alternatives)
    {
        std::visit(
            [&w](const auto &alternative) {
                writeStructure(w, alternative, tagOf<std::decay_t<decltype(alternative)>>());
            },
            alternatives);
    }

    template <class T>
    static void write(Writer &w, const T &structure)
    {
        writeStructure(w, structure, nullptr);
    }

    template <class T>
    static void writeStructure(Writer &w, const T &structure, const char *tag)
    {
        Counter counter;
        describe(structure, counter);
        w.mapHeader(counter.entries + (tag ? 1 : 0));
        if (tag) {
            w.str(kTagKey);
            w.str(tag);
        }
        Encoder encoder(w);
        describe(structure, encoder);
    }

  private:
    Writer &w_;
};

template <class T>
std::string encodeFrame(const T &value, std::size_t reserve)
{
    std::string out;
    out.reserve(reserve);
    {
        Writer writer(out);
        Encoder::write(writer, value);
    }
    return out;
}

/* ---- MessagePack reader ------------------------------------------------ */

[[noreturn]] void fail(const std::string &what)
{
    throw DecodeError(what);
}

/* Reads MessagePack from a frame, checking every length against what is
 * left, so no prefix can make it read past the end or allocate more than
 * the frame holds. Accepts what nlohmann/json's from_msgpack accepts: map
 * keys must be strings; the never-used byte 0xc1 is an error. */
class Reader {
  public:
    explicit Reader(std::string_view frame)
        : p_(reinterpret_cast<const std::uint8_t *>(frame.data())), end_(p_ + frame.size())
    {
    }

    bool atEnd() const { return p_ == end_; }
    const std::uint8_t *position() const { return p_; }
    void rewind(const std::uint8_t *to) { p_ = to; }

    /* A map's entry count; the caller reads the entries, then calls leave(). */
    std::size_t mapHeader()
    {
        const std::uint8_t b = take();
        std::size_t n;
        if ((b & 0xf0) == 0x80)
            n = b & 0x0f;
        else if (b == 0xde)
            n = be(2);
        else if (b == 0xdf)
            n = be(4);
        else
            fail("expected map");
        enter();
        if (n > left() / 2)
            fail("truncated frame");
        return n;
    }

    /* An array's element count; the caller reads them, then calls leave(). */
    std::size_t arrayHeader()
    {
        const std::uint8_t b = take();
        std::size_t n;
        if ((b & 0xf0) == 0x90)
            n = b & 0x0f;
        else if (b == 0xdc)
            n = be(2);
        else if (b == 0xdd)
            n = be(4);
        else
            fail("expected array");
        enter();
        if (n > left())
            fail("truncated frame");
        return n;
    }

    void leave() { --depth_; }

    bool nextIsString() const { return p_ != end_ && isString(*p_); }

    std::string_view str()
    {
        const std::uint8_t b = take();
        if (!isString(b))
            fail("expected string");
        std::size_t n;
        if ((b & 0xe0) == 0xa0)
            n = b & 0x1f;
        else
            n = be(static_cast<std::size_t>(1) << (b - 0xd9));
        return bytes(n);
    }

    std::string_view bin()
    {
        const std::uint8_t b = take();
        if (b < 0xc4 || b > 0xc6)
            fail("expected bytes");
        return bytes(be(static_cast<std::size_t>(1) << (b - 0xc4)));
    }

    bool boolean()
    {
        const std::uint8_t b = take();
        if (b != 0xc2 && b != 0xc3)
            fail("expected boolean");
        return b == 0xc3;
    }

    /* An integer of any MessagePack width, checked against T's range. */
    template <std::integral T>
    T integer()
    {
        const std::uint8_t b = take();
        if (b <= 0x7f)
            return inRange<T>(static_cast<std::uint64_t>(b));
        if (b >= 0xe0)
            return inRange<T>(static_cast<std::int64_t>(static_cast<std::int8_t>(b)));
        if (b >= 0xcc && b <= 0xcf)
            return inRange<T>(static_cast<std::uint64_t>(be(std::size_t{1} << (b - 0xcc))));
        if (b >= 0xd0 && b <= 0xd3) {
            const std::size_t width = std::size_t{1} << (b - 0xd0);
            const std::uint64_t raw = be(width);
            const unsigned shift = static_cast<unsigned>(64 - 8 * width);
            /* Sign-extend the big-endian value of `width` bytes. */
            const auto value = static_cast<std::int64_t>(raw << shift) >> shift;
            return inRange<T>(value);
        }
        fail("expected integer");
    }

    /* Skips one value of any type, checking it as strictly as a value that
     * is read. */
    void skip()
    {
        const std::uint8_t b = take();
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
            return;
        if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf) {
            --p_;
            const std::size_t n = mapHeader();
            for (std::size_t i = 0; i < n; ++i) {
                (void)str();
                skip();
            }
            return leave();
        }
        if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd) {
            --p_;
            const std::size_t n = arrayHeader();
            for (std::size_t i = 0; i < n; ++i)
                skip();
            return leave();
        }
        if (isString(b)) {
            --p_;
            (void)str();
            return;
        }
        switch (b) {
        case 0xc4:
        case 0xc5:
        case 0xc6:
            (void)bytes(be(std::size_t{1} << (b - 0xc4)));
            return;
        case 0xc7:
        case 0xc8:
        case 0xc9: { /* ext 8/16/32: length, type, data */
            const std::size_t n = be(std::size_t{1} << (b - 0xc7));
            (void)bytes(n + 1);
            return;
        }
        case 0xca:
            (void)bytes(4);
            return;
        case 0xcb:
            (void)bytes(8);
            return;
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
            (void)bytes(std::size_t{1} << (b - 0xcc));
            return;
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3:
            (void)bytes(std::size_t{1} << (b - 0xd0));
            return;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8: /* fixext 1..16: type, data */
            (void)bytes(1 + (std::size_t{1} << (b - 0xd4)));
            return;
        default: /* 0xc1 */
            fail("invalid MessagePack byte");
        }
    }

  private:
    const std::uint8_t *p_;
    const std::uint8_t *end_;
    std::size_t depth_ = 0;

    static bool isString(std::uint8_t b) { return (b & 0xe0) == 0xa0 || (b >= 0xd9 && b <= 0xdb); }

    std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }

    [[gnu::always_inline]] std::uint8_t take()
    {
        if (p_ == end_)
            fail("truncated frame");
        return *p_++;
    }

    std::string_view bytes(std::size_t n)
    {
        if (n > left())
            fail("truncated frame");
        const std::string_view out(reinterpret_cast<const char *>(p_), n);
        p_ += n;
        return out;
    }

    [[gnu::always_inline]] std::uint64_t be(std::size_t width)
    {
        if (width > left())
            fail("truncated frame");
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < width; ++i)
            v = (v << 8) | p_[i];
        p_ += width;
        return v;
    }

    void enter()
    {
        if (++depth_ > kMaxDepth)
            fail("frame nested too deeply");
    }

    template <class T, class N>
    static T inRange(N number)
    {
        if constexpr (std::same_as<T, bool>) {
            fail("expected boolean");
        } else {
            if (!std::in_range<T>(number))
                fail("number out of range");
            return static_cast<T>(number);
        }
    }
};

/* ---- Decoder ----------------------------------------------------------- */

/* Prefixes the field's key so errors say where in the frame they are. */
template <class F>
void withContext(const char *key, F &&decode)
{
    try {
        decode();
    } catch (const DecodeError &error) {
        throw DecodeError(std::string("field '") + key + "': " + error.what());
    }
}

void read(Reader &r, std::string &out)
{
    out = r.str();
}

template <std::integral T>
void read(Reader &r, T &out)
{
    if constexpr (std::same_as<T, bool>)
        out = r.boolean();
    else
        out = r.integer<T>();
}

void read(Reader &r, ProviderId &out)
{
    std::size_t n;
    try {
        n = r.arrayHeader();
    } catch (const DecodeError &) {
        fail("expected [instance, node] pair");
    }
    if (n != 2)
        fail("expected [instance, node] pair");
    withContext("instance", [&] { read(r, out.instance); });
    withContext("node", [&] { read(r, out.node); });
    r.leave();
}

template <class T>
void read(Reader &r, std::optional<T> &out)
{
    read(r, out.emplace());
}

template <class T>
void read(Reader &r, std::vector<T> &out)
{
    const std::size_t n = r.arrayHeader();
    out.clear();
    /* Bounded: a hostile count only costs what the frame's bytes allow. */
    out.reserve(std::min<std::size_t>(n, 64));
    for (std::size_t i = 0; i < n; ++i)
        read(r, out.emplace_back());
    r.leave();
}

template <class T>
void readEntries(Reader &r, T &structure, std::size_t entries);

template <class... Ts>
void read(Reader &r, std::variant<Ts...> &out)
{
    std::size_t n = r.mapHeader();
    const std::uint8_t *entriesStart = r.position();
    std::optional<std::string_view> tag;
    if (n > 0 && r.str() == kTagKey) {
        /* Our own encoders write the tag first. */
        if (!r.nextIsString())
            fail(std::string("missing type field '") + kTagKey + "'");
        tag = r.str();
        --n;
    } else {
        /* Anyone else's: find it, then read the entries from the start. */
        r.rewind(entriesStart);
        for (std::size_t i = 0; i < n; ++i) {
            if (r.str() == kTagKey) {
                if (!r.nextIsString())
                    fail(std::string("missing type field '") + kTagKey + "'");
                tag = r.str();
            } else {
                r.skip();
            }
        }
        if (!tag)
            fail(std::string("missing type field '") + kTagKey + "'");
        r.rewind(entriesStart);
    }
    const bool known =
        ((*tag == tagOf<Ts>() ? (readEntries(r, out.template emplace<Ts>(), n), true) : false) ||
         ...);
    if (!known)
        fail("unknown message type");
    r.leave();
}

template <class T>
void read(Reader &r, T &structure)
{
    const std::size_t n = r.mapHeader();
    readEntries(r, structure, n);
    r.leave();
}

/* Reads the value of the field named `key`, if the structure has one. */
class FieldReader {
  public:
    /* Only fields from index `from` on are compared. */
    FieldReader(Reader &reader, std::string_view key, int from) : r_(reader), key_(key), from_(from)
    {
    }

    int matched = -1;

    template <class T>
    void operator()(const char *name, T &out)
    {
        if (match(name))
            withContext(name, [&] { read(r_, out); });
    }
    template <class T>
    void operator()(const char *name, Bin<T> field)
    {
        if (match(name))
            withContext(name, [&] {
                if constexpr (kIsOptional<T>)
                    field.ref.emplace(r_.bin());
                else
                    field.ref.assign(r_.bin());
            });
    }
    template <class T>
    void operator()(const char *name, Defaulted<T> field)
    {
        if (match(name))
            withContext(name, [&] { read(r_, field.ref); });
    }

  private:
    Reader &r_;
    std::string_view key_;
    int from_;
    int index_ = 0;

    /* Called for every field of the structure, for every key of the map:
     * compares in place, and gives up at the first differing byte. */
    [[gnu::always_inline]] bool match(const char *name)
    {
        const int index = index_++;
        if (matched >= 0 || index < from_)
            return false;
        std::size_t i = 0;
        for (; i < key_.size(); ++i)
            if (name[i] == '\0' || name[i] != key_[i])
                return false;
        if (name[i] != '\0')
            return false;
        matched = index;
        return true;
    }
};

/* After the entries: every required field was there; absent optionals are
 * unset. */
class Completion {
  public:
    explicit Completion(std::uint64_t seen) : seen_(seen) {}

    template <class T>
    void operator()(const char *name, T &out)
    {
        if (present())
            return;
        if constexpr (kIsOptional<T>)
            out.reset();
        else
            fail(std::string("missing field '") + name + "'");
    }
    template <class T>
    void operator()(const char *name, Bin<T> field)
    {
        (*this)(name, field.ref);
    }
    template <class T>
    void operator()(const char *, Defaulted<T>)
    {
        (void)present();
    }

  private:
    std::uint64_t seen_;
    int index_ = 0;

    bool present() { return (seen_ >> index_++) & 1u; }
};

template <class T>
void readEntries(Reader &r, T &structure, std::size_t entries)
{
    std::uint64_t seen = 0;
    /* Encoders write the fields in description order, so the next key is
     * looked for after the last one found first, then among all. */
    int next = 0;
    for (std::size_t i = 0; i < entries; ++i) {
        const std::string_view key = r.str();
        FieldReader field(r, key, next);
        describe(structure, field);
        int matched = field.matched;
        if (matched < 0 && next > 0) {
            FieldReader again(r, key, 0);
            describe(structure, again);
            matched = again.matched;
        }
        if (matched >= 0) {
            seen |= std::uint64_t{1} << matched;
            next = matched + 1;
        } else {
            r.skip(); /* unknown keys are ignored; "t" of a variant too */
        }
    }
    Completion completion(seen);
    describe(structure, completion);
}

template <class T>
T decodeFrame(std::string_view frame)
{
    Reader reader(frame);
    T out;
    read(reader, out);
    if (!reader.atEnd())
        fail("trailing bytes after the frame");
    return out;
}

template <class T>
T decodeNext(std::string_view &rest)
{
    Reader reader(rest);
    T out;
    read(reader, out);
    rest.remove_prefix(static_cast<size_t>(reader.position() -
                                           reinterpret_cast<const std::uint8_t *>(rest.data())));
    return out;
}

} // namespace

std::string encode(const ClientMessage &message)
{
    return encodeFrame(message, 64);
}

ClientMessage decodeClientMessage(std::string_view frame)
{
    return decodeFrame<ClientMessage>(frame);
}

std::string encode(const ServerMessage &message)
{
    std::string out;
    encode(message, out);
    return out;
}

void encode(const ServerMessage &message, std::string &out)
{
    out.clear();
    Writer writer(out);
    Encoder::write(writer, message);
    /* The writer cuts `out` to size as it goes out of scope. */
}

ServerMessage decodeServerMessage(std::string_view frame)
{
    return decodeFrame<ServerMessage>(frame);
}

ServerMessage decodeNextServerMessage(std::string_view &rest)
{
    return decodeNext<ServerMessage>(rest);
}

std::string encodeNoteBody(const NoteBody &body)
{
    return encodeFrame(body, 128);
}

NoteBody decodeNoteBody(std::string_view frame)
{
    return decodeFrame<NoteBody>(frame);
}

NoteBody decodeNextNoteBody(std::string_view &rest)
{
    return decodeNext<NoteBody>(rest);
}

} // namespace gs::wire
