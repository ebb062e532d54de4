/* SPDX-License-Identifier: MIT */
/*
 * Engine state you can move: snapshot() writes the whole state as canonical
 * CBOR, restore() reads it back, digest() hashes it.
 *
 * Each record type lists its fields once (fields() below); the same list
 * writes and reads it, so the two cannot drift apart. Maps become arrays of
 * [key, value] pairs in key order and every string becomes a CBOR byte
 * string (state values and names are bytes to the engine), so equal states
 * always give equal bytes.
 *
 * The document is {"check", "format", "state"}: `check` is the digest of
 * the encoded `state`, so that a damaged byte anywhere is refused rather
 * than loaded as a different, equally valid state. restore() accepts only
 * what snapshot() would write for the state it reads back: canonical bytes,
 * a state whose invariants hold.
 */
#include "engine/engine_impl.hpp"

#include "common/state_digest.hpp"

#include <nlohmann/json.hpp>

#include <concepts>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace gs {

namespace {

using nlohmann::json;

/* Version of the snapshot layout: bump it whenever a field is added,
 * removed or changes meaning. A replica refuses another version. */
constexpr int kSnapshotFormat = 2; /* 2: hosts and hostSubscribers (HostMembership) */

/* Deepest nesting a snapshot has (document, state, groups, pair, group,
 * protocol, participants, participant, member, id: 10), with room to grow.
 * Deeper input is refused before it can exhaust the parser's stack. */
constexpr int kMaxDepth = 32;

[[noreturn]] void refuse(const std::string &why)
{
    throw std::invalid_argument("engine snapshot refused: " + why);
}

template <class S, class T>
concept Is = std::same_as<std::remove_const_t<S>, T>;

/* ---- the fields of each record ---------------------------------------- */

template <Is<ProviderId> S, class F>
void fields(S &s, F &&f)
{
    f("instance", s.instance);
    f("node", s.node);
}

template <Is<LeaveInfo> S, class F>
void fields(S &s, F &&f)
{
    f("leaveCode", s.leaveCode);
    f("reason", s.reason);
}

template <Is<ExpelInfo> S, class F>
void fields(S &s, F &&f)
{
    f("deactivateFlag", s.deactivateFlag);
    f("deactivatePhase", s.deactivatePhase);
}

template <Is<GroupAttributes> S, class F>
void fields(S &s, F &&f)
{
    f("batchControl", s.batchControl);
    f("clientVersion", s.clientVersion);
    f("defaultVote", s.defaultVote);
    f("groupName", s.groupName);
    f("mergeControl", s.mergeControl);
    f("numPhases", s.numPhases);
    f("sizeofAttributes", s.sizeofAttributes);
    f("sourceGroupName", s.sourceGroupName);
    f("sourceReflectionNumPhases", s.sourceReflectionNumPhases);
    f("sourceReflectionTimeLimit", s.sourceReflectionTimeLimit);
    f("timeLimit", s.timeLimit);
    f("version", s.version);
}

template <Is<EngineLimits> S, class F>
void fields(S &s, F &&f)
{
    f("maxClients", s.maxClients);
    f("maxGroupsPerClient", s.maxGroupsPerClient);
    f("maxProvidersPerGroup", s.maxProvidersPerGroup);
    f("maxStateMemory", s.maxStateMemory);
    f("maxTokens", s.maxTokens);
}

template <Is<TokenInfo> S, class F>
void fields(S &s, F &&f)
{
    f("client", s.client);
    f("control", s.control);
    f("group", s.group);
    f("id", s.id);
    f("provider", s.provider);
    f("state", s.state);
}

template <Is<ClientRecord> S, class F>
void fields(S &s, F &&f)
{
    f("deactivateScript", s.deactivateScript);
    f("providerOf", s.providerOf);
    f("subscriberOf", s.subscriberOf);
}

template <Is<Member> S, class F>
void fields(S &s, F &&f)
{
    f("client", s.client);
    f("id", s.id);
    f("token", s.token);
}

template <Is<QueuedChange> S, class F>
void fields(S &s, F &&f)
{
    f("kind", s.kind);
    f("provider", s.provider);
    f("reason", s.reason);
    f("sourceState", s.sourceState);
}

template <Is<Participant> S, class F>
void fields(S &s, F &&f)
{
    f("joiner", s.joiner);
    f("member", s.member);
    f("messageProposal", s.messageProposal);
    f("proposedDefault", s.proposedDefault);
    f("stateProposal", s.stateProposal);
    f("vote", s.vote);
    f("voted", s.voted);
    f("voter", s.voter);
}

template <Is<Deactivation> S, class F>
void fields(S &s, F &&f)
{
    f("outcome", s.outcome);
    f("phase", s.phase);
    f("run", s.run);
}

template <Is<Protocol> S, class F>
void fields(S &s, F &&f)
{
    f("accumulated", s.accumulated);
    f("approving", s.approving);
    f("changing", s.changing);
    f("currentProviders", s.currentProviders);
    f("deactivateStarted", s.deactivateStarted);
    f("deactivations", s.deactivations);
    f("defaultVote", s.defaultVote);
    f("expelInfo", s.expelInfo);
    f("forced", s.forced);
    f("heldBytes", s.heldBytes);
    f("leaveInfo", s.leaveInfo);
    f("message", s.message);
    f("nPhase", s.nPhase);
    f("oldState", s.oldState);
    f("participants", s.participants);
    f("phase", s.phase);
    f("phaseSummary", s.phaseSummary);
    f("proposedAttributes", s.proposedAttributes);
    f("proposedState", s.proposedState);
    f("riderMessage", s.riderMessage);
    f("sourceState", s.sourceState);
    f("timeLimit", s.timeLimit);
    f("timer", s.timer);
    f("type", s.type);
}

template <Is<Group> S, class F>
void fields(S &s, F &&f)
{
    f("attributes", s.attributes);
    f("members", s.members);
    f("name", s.name);
    f("queue", s.queue);
    f("running", s.running);
    f("state", s.state);
    f("subscribers", s.subscribers);
}

/* The engine's whole state: everything that can influence a future action.
 * The cascade stacks are empty between events and the action sink is the
 * caller's, so neither is part of it. */
template <class I, class F>
void stateFields(I &impl, F &&f)
{
    f("clients", impl.clients);
    f("deactivateRuns", impl.deactivateRuns);
    f("groups", impl.groups);
    f("hostSubscribers", impl.hostSubscribers);
    f("hosts", impl.hosts);
    f("limits", impl.config.limits);
    f("nextDeactivate", impl.nextDeactivate);
    f("nextTimer", impl.nextTimer);
    f("nextToken", impl.nextToken);
    f("stateMemory", impl.stateMemory);
    f("targetsOf", impl.targetsOf);
    f("timers", impl.timers);
    f("tokens", impl.tokens);
}

/* Number of values of each enumeration, for range checks when reading. */
constexpr int valuesOf(ProviderState)
{
    return 3;
}
constexpr int valuesOf(QueuedKind)
{
    return 4;
}

template <class T>
struct IsOptional : std::false_type {
};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {
};

template <class T>
struct IsSequence : std::false_type {
};
template <class T>
struct IsSequence<std::vector<T>> : std::true_type {
};
template <class T>
struct IsSequence<std::deque<T>> : std::true_type {
};

template <class T>
struct IsSet : std::false_type {
};
template <class T>
struct IsSet<std::set<T>> : std::true_type {
};

template <class T>
struct IsMap : std::false_type {
};
template <class K, class V>
struct IsMap<std::map<K, V>> : std::true_type {
};

/* ---- writing -------------------------------------------------------- */

template <class T>
json encode(const T &value)
{
    if constexpr (std::is_same_v<T, bool> || std::is_integral_v<T>) {
        return json(value);
    } else if constexpr (std::is_enum_v<T>) {
        return json(static_cast<int>(value));
    } else if constexpr (std::is_same_v<T, std::string>) {
        return json::binary(std::vector<uint8_t>(value.begin(), value.end()));
    } else if constexpr (IsOptional<T>::value) {
        return value ? encode(*value) : json(nullptr);
    } else if constexpr (IsSequence<T>::value || IsSet<T>::value) {
        json array = json::array();
        for (const auto &item : value)
            array.push_back(encode(item));
        return array;
    } else if constexpr (IsMap<T>::value) {
        json array = json::array();
        for (const auto &[key, item] : value)
            array.push_back(json::array({encode(key), encode(item)}));
        return array;
    } else {
        json object = json::object();
        fields(value, [&](const char *name, const auto &field) { object[name] = encode(field); });
        return object;
    }
}

template <class I>
std::string encodeDocument(const I &impl)
{
    json state = json::object();
    stateFields(impl, [&](const char *name, const auto &field) { state[name] = encode(field); });
    const std::vector<uint8_t> stateBytes = json::to_cbor(state);
    json document = json::object();
    document["check"] = digestOf(
        std::string_view(reinterpret_cast<const char *>(stateBytes.data()), stateBytes.size()));
    document["format"] = kSnapshotFormat;
    document["state"] = std::move(state);
    const std::vector<uint8_t> bytes = json::to_cbor(document);
    return std::string(bytes.begin(), bytes.end());
}

/* ---- reading -------------------------------------------------------- */

template <class T>
void decode(const json &j, T &value);

template <class T>
void decodeInteger(const json &j, T &value)
{
    if (j.is_number_unsigned()) {
        const auto v = j.get<uint64_t>();
        if (!std::in_range<T>(v))
            refuse("number out of range");
        value = static_cast<T>(v);
    } else if (j.is_number_integer()) {
        const auto v = j.get<int64_t>();
        if (!std::in_range<T>(v))
            refuse("number out of range");
        value = static_cast<T>(v);
    } else {
        refuse("a number expected");
    }
}

template <class T>
void decode(const json &j, T &value)
{
    if constexpr (std::is_same_v<T, bool>) {
        if (!j.is_boolean())
            refuse("a boolean expected");
        value = j.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
        decodeInteger(j, value);
    } else if constexpr (std::is_enum_v<T>) {
        int v = 0;
        decodeInteger(j, v);
        if (v < 0 || v >= valuesOf(T{}))
            refuse("enumeration value out of range");
        value = static_cast<T>(v);
    } else if constexpr (std::is_same_v<T, std::string>) {
        if (!j.is_binary())
            refuse("a byte string expected");
        const auto &bytes = j.get_binary();
        value.assign(bytes.begin(), bytes.end());
    } else if constexpr (IsOptional<T>::value) {
        if (j.is_null()) {
            value.reset();
        } else {
            value.emplace();
            decode(j, *value);
        }
    } else if constexpr (IsSequence<T>::value) {
        if (!j.is_array())
            refuse("an array expected");
        value.clear();
        for (const auto &item : j)
            decode(item, value.emplace_back());
    } else if constexpr (IsSet<T>::value) {
        if (!j.is_array())
            refuse("an array expected");
        value.clear();
        for (const auto &item : j) {
            typename T::value_type v{};
            decode(item, v);
            if (!value.insert(std::move(v)).second)
                refuse("a set holds one value twice");
        }
    } else if constexpr (IsMap<T>::value) {
        if (!j.is_array())
            refuse("an array of pairs expected");
        value.clear();
        for (const auto &pair : j) {
            if (!pair.is_array() || pair.size() != 2)
                refuse("a [key, value] pair expected");
            typename T::key_type key{};
            decode(pair[0], key);
            auto [it, added] = value.try_emplace(std::move(key));
            if (!added)
                refuse("a map holds one key twice");
            decode(pair[1], it->second);
        }
    } else {
        if (!j.is_object())
            refuse("a record expected");
        size_t known = 0;
        fields(value, [&](const char *name, auto &field) {
            auto it = j.find(name);
            if (it == j.end())
                refuse(std::string("field missing: ") + name);
            decode(*it, field);
            ++known;
        });
        if (j.size() != known)
            refuse("a record has fields this engine does not know");
    }
}

/* nlohmann's DOM builder, refusing input nested deeper than kMaxDepth. */
class BoundedParser : public nlohmann::detail::json_sax_dom_parser<json> {
  public:
    explicit BoundedParser(json &document) : json_sax_dom_parser(document, true) {}
    bool start_object(std::size_t n) { return deeper() && json_sax_dom_parser::start_object(n); }
    bool end_object()
    {
        --depth_;
        return json_sax_dom_parser::end_object();
    }
    bool start_array(std::size_t n) { return deeper() && json_sax_dom_parser::start_array(n); }
    bool end_array()
    {
        --depth_;
        return json_sax_dom_parser::end_array();
    }

  private:
    bool deeper()
    {
        if (++depth_ > kMaxDepth)
            refuse("nested too deeply");
        return true;
    }
    int depth_ = 0;
};

json parseDocument(std::string_view bytes)
{
    json document;
    BoundedParser parser(document);
    try {
        if (!json::sax_parse(bytes.begin(), bytes.end(), &parser, json::input_format_t::cbor))
            refuse("not a CBOR document");
    } catch (const json::exception &e) {
        refuse(std::string("not a CBOR document: ") + e.what());
    }
    return document;
}

} // namespace

std::string Engine::snapshot() const
{
    return encodeDocument(*impl_);
}

void Engine::restore(std::string_view bytes)
{
    const json document = parseDocument(bytes);
    if (!document.is_object())
        refuse("not a snapshot document");
    const auto format = document.find("format");
    if (format == document.end() || !format->is_number_integer())
        refuse("no format version");
    if (format->get<int64_t>() != kSnapshotFormat)
        refuse("format version " + format->dump() + ", this engine reads version " +
               std::to_string(kSnapshotFormat));
    const auto check = document.find("check");
    const auto state = document.find("state");
    if (check == document.end() || state == document.end() || document.size() != 3 ||
        !check->is_number_unsigned())
        refuse("not a snapshot document");
    const std::vector<uint8_t> stateBytes = json::to_cbor(*state);
    if (check->get<uint64_t>() !=
        digestOf(
            std::string_view(reinterpret_cast<const char *>(stateBytes.data()), stateBytes.size())))
        refuse("checksum mismatch: the snapshot was damaged");

    /* Built aside and swapped in only once it is whole and consistent. */
    auto fresh = std::make_unique<Impl>();
    try {
        if (!state->is_object())
            refuse("the state is not a record");
        size_t known = 0;
        stateFields(*fresh, [&](const char *name, auto &field) {
            auto it = state->find(name);
            if (it == state->end())
                refuse(std::string("state field missing: ") + name);
            decode(*it, field);
            ++known;
        });
        if (state->size() != known)
            refuse("the state has fields this engine does not know");
    } catch (const json::exception &e) {
        refuse(e.what());
    }
    if (const std::string broken = fresh->invariants(); !broken.empty())
        refuse("inconsistent state: " + broken);
    if (encodeDocument(*fresh) != bytes)
        refuse("not in canonical form");
    impl_ = std::move(fresh);
}

StateDigest Engine::digest() const
{
    return digestOf(snapshot());
}

const EngineLimits &Engine::limits() const
{
    return impl_->config.limits;
}

} // namespace gs
