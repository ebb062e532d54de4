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

#include <nlohmann/json.hpp>

#include <concepts>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace gs::wire {
namespace {

using json = nlohmann::json;

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
inline constexpr const char *kTag<CmmReq> = "cmmreq";
template <>
inline constexpr const char *kTag<CmmReply> = "cmmreply";
template <>
inline constexpr const char *kTag<CmmNote> = "cmmnote";

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

/* ---- Encoder ----------------------------------------------------------- */

class Encoder {
  public:
    json object = json::object();

    template <class T>
    void operator()(const char *key, const T &value)
    {
        if constexpr (kIsOptional<T>) {
            if (value)
                object[key] = toJson(*value);
        } else {
            object[key] = toJson(value);
        }
    }

    template <class T>
    void operator()(const char *key, Bin<T> field)
    {
        if constexpr (kIsOptional<std::remove_const_t<T>>) {
            if (field.ref)
                object[key] = toBinary(*field.ref);
        } else {
            object[key] = toBinary(field.ref);
        }
    }

    template <class T>
    void operator()(const char *key, Defaulted<T> field)
    {
        object[key] = toJson(field.ref);
    }

    static json toBinary(const std::string &bytes)
    {
        return json::binary(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
    }

    template <class T>
    requires std::integral<T> || std::same_as<T, std::string>
    static json toJson(const T &value) { return json(value); }

    /* A provider is a pair: lists of a thousand providers stay compact. */
    static json toJson(const ProviderId &provider)
    {
        return json::array({provider.instance, provider.node});
    }

    template <class T>
    static json toJson(const std::vector<T> &items)
    {
        json array = json::array();
        for (const T &item : items)
            array.push_back(toJson(item));
        return array;
    }

    template <class... Ts>
    static json toJson(const std::variant<Ts...> &alternatives)
    {
        return std::visit(
            [](const auto &alternative) {
                json tagged = toJson(alternative);
                tagged[kTagKey] = tagOf<std::decay_t<decltype(alternative)>>();
                return tagged;
            },
            alternatives);
    }

    template <class T>
    static json toJson(const T &structure)
    {
        Encoder encoder;
        describe(structure, encoder);
        return std::move(encoder.object);
    }
};

std::string toMsgpack(const json &document)
{
    std::string out;
    json::to_msgpack(document, out);
    return out;
}

/* ---- Decoder ----------------------------------------------------------- */

[[noreturn]] void fail(const std::string &what)
{
    throw DecodeError(what);
}

class Decoder {
  public:
    explicit Decoder(const json &object) : object_(object) {}

    template <class T>
    void operator()(const char *key, T &out)
    {
        const json *field = find(key);
        if constexpr (kIsOptional<T>) {
            if (!field) {
                out.reset();
                return;
            }
            withContext(key, [&] { fromJson(*field, out.emplace()); });
        } else {
            if (!field)
                fail(std::string("missing field '") + key + "'");
            withContext(key, [&] { fromJson(*field, out); });
        }
    }

    template <class T>
    void operator()(const char *key, Bin<T> out)
    {
        const json *field = find(key);
        if constexpr (kIsOptional<T>) {
            if (!field) {
                out.ref.reset();
                return;
            }
            withContext(key, [&] { fromBinary(*field, out.ref.emplace()); });
        } else {
            if (!field)
                fail(std::string("missing field '") + key + "'");
            withContext(key, [&] { fromBinary(*field, out.ref); });
        }
    }

    template <class T>
    void operator()(const char *key, Defaulted<T> out)
    {
        if (const json *field = find(key))
            withContext(key, [&] { fromJson(*field, out.ref); });
    }

    static void fromBinary(const json &value, std::string &out)
    {
        if (!value.is_binary() || value.get_binary().has_subtype())
            fail("expected bytes");
        const auto &bytes = value.get_binary();
        out.assign(bytes.begin(), bytes.end());
    }

    template <std::integral T>
    static void fromJson(const json &value, T &out)
    {
        if constexpr (std::same_as<T, bool>) {
            if (!value.is_boolean())
                fail("expected boolean");
            out = value.get<bool>();
        } else if (value.is_number_unsigned()) {
            out = inRange<T>(value.get<std::uint64_t>());
        } else if (value.is_number_integer()) {
            out = inRange<T>(value.get<std::int64_t>());
        } else {
            fail("expected integer");
        }
    }

    static void fromJson(const json &value, std::string &out)
    {
        if (!value.is_string())
            fail("expected string");
        out = value.get_ref<const std::string &>();
    }

    static void fromJson(const json &value, ProviderId &out)
    {
        if (!value.is_array() || value.size() != 2)
            fail("expected [instance, node] pair");
        withContext("instance", [&] { fromJson(value[0], out.instance); });
        withContext("node", [&] { fromJson(value[1], out.node); });
    }

    template <class T>
    static void fromJson(const json &value, std::vector<T> &out)
    {
        if (!value.is_array())
            fail("expected array");
        out.clear();
        out.reserve(value.size());
        for (const json &item : value)
            fromJson(item, out.emplace_back());
    }

    template <class... Ts>
    static void fromJson(const json &value, std::variant<Ts...> &out)
    {
        if (!value.is_object())
            fail("expected map");
        const auto tag = value.find(kTagKey);
        if (tag == value.end() || !tag->is_string())
            fail(std::string("missing type field '") + kTagKey + "'");
        const auto &name = tag->get_ref<const std::string &>();
        const bool known =
            ((name == tagOf<Ts>() ? (fromJson(value, out.template emplace<Ts>()), true) : false) ||
             ...);
        if (!known)
            fail("unknown message type");
    }

    template <class T>
    static void fromJson(const json &value, T &structure)
    {
        if (!value.is_object())
            fail("expected map");
        Decoder decoder(value);
        describe(structure, decoder);
    }

  private:
    const json &object_;

    const json *find(const char *key) const
    {
        const auto it = object_.find(key);
        return it == object_.end() ? nullptr : &*it;
    }

    template <class T, class N>
    static T inRange(N number)
    {
        if (!std::in_range<T>(number))
            fail("number out of range");
        return static_cast<T>(number);
    }

    /* Prefixes the field's key so errors say where in the frame they are. */
    template <class F>
    static void withContext(const char *key, F &&decode)
    {
        try {
            decode();
        } catch (const DecodeError &error) {
            throw DecodeError(std::string("field '") + key + "': " + error.what());
        }
    }
};

/* The DOM builder of nlohmann/json with a nesting limit. */
class BoundedSax : public nlohmann::detail::json_sax_dom_parser<json> {
  public:
    explicit BoundedSax(json &document) : json_sax_dom_parser(document, true) {}

    bool start_object(std::size_t elements)
    {
        return enter() && json_sax_dom_parser::start_object(elements);
    }
    bool end_object()
    {
        --depth_;
        return json_sax_dom_parser::end_object();
    }
    bool start_array(std::size_t elements)
    {
        return enter() && json_sax_dom_parser::start_array(elements);
    }
    bool end_array()
    {
        --depth_;
        return json_sax_dom_parser::end_array();
    }

  private:
    std::size_t depth_ = 0;
    bool enter() { return ++depth_ <= kMaxDepth; }
};

template <class T>
T decodeFrame(std::string_view frame)
{
    try {
        json document;
        BoundedSax sax(document);
        if (!json::sax_parse(frame.begin(), frame.end(), &sax, json::input_format_t::msgpack))
            fail("frame nested too deeply");
        T out;
        Decoder::fromJson(document, out);
        return out;
    } catch (const json::exception &error) {
        throw DecodeError(error.what());
    }
}

} // namespace

std::string encode(const ClientMessage &message)
{
    return toMsgpack(Encoder::toJson(message));
}

ClientMessage decodeClientMessage(std::string_view frame)
{
    return decodeFrame<ClientMessage>(frame);
}

std::string encode(const ServerMessage &message)
{
    return toMsgpack(Encoder::toJson(message));
}

ServerMessage decodeServerMessage(std::string_view frame)
{
    return decodeFrame<ServerMessage>(frame);
}

std::string encodeNoteBody(const NoteBody &body)
{
    return toMsgpack(Encoder::toJson(body));
}

NoteBody decodeNoteBody(std::string_view frame)
{
    return decodeFrame<NoteBody>(frame);
}

} // namespace gs::wire
