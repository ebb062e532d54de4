/* SPDX-License-Identifier: MIT */
/*
 * The CMM engine's state as bytes: snapshot(), restore(), digest(). A gsd
 * joining a domain loads the state of the running ones from a snapshot, and
 * replicas compare digests to find out that they diverged.
 *
 * A snapshot is the CBOR encoding (nlohmann::json::to_cbor) of
 *
 *   {"format": "gs-cmm-engine", "version": 2, "state": STATE,
 *    "checksum": FNV-1a of STATE's own CBOR bytes}
 *   STATE = {"nodes": [NODE...], "incarnations": [[id, number]...],
 *            "master": id|null, "viceMaster": id|null, "lastMaster": id|null,
 *            "health": "valid"|"stale"|"invalid"}
 *   NODE  = {"config": the NodeConfig row, "role": "out"|"in"|"vice-master"|
 *            "master", "eligible", "disqualified", "synchroNeeded",
 *            "formerMaster", "removed"}
 *
 * The checksum catches a byte changed in transit where the result would
 * still parse (a flipped flag, a changed name). The encoding is canonical:
 * map keys sorted (as nlohmann::json keeps them, in a std::map), nodes and
 * incarnations by increasing node id, CBOR heads in their shortest form.
 *
 * snapshot() writes those bytes itself, byte for byte what to_cbor gives
 * for the state as a nlohmann::json value (the tests compare the two on
 * every random state): building the JSON value first costs 20 times more,
 * and a simulated domain takes every replica's digest after every event.
 * restore() reads with nlohmann::json::from_cbor and accepts only the bytes
 * snapshot() can produce: it rebuilds the state, checks the engine's rules
 * on it, and compares that state's snapshot with its input.
 */
#include "engine/cmm_engine.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <limits>
#include <stdexcept>
#include <utility>

namespace gs::cmm {

namespace {

using json = nlohmann::json;

constexpr const char *kFormat = "gs-cmm-engine";
constexpr uint64_t kVersion = 2; /* 2: a node's "removed" */
/* The envelope, the state, the node list, a node, its config row. */
constexpr size_t kMaxDepth = 5;

[[noreturn]] void refuse(const std::string &why)
{
    throw std::invalid_argument("CMM engine snapshot: " + why);
}

/* First pass over the bytes: nlohmann's CBOR reader recurses once per
 * nesting level, so deeply nested garbage would exhaust the stack before
 * any check of ours ran. This reader builds nothing and stops at the first
 * level deeper than a snapshot has. */
class DepthCheck : public nlohmann::json_sax<json> {
  public:
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t &) override { return true; }
    bool string(string_t &) override { return true; }
    bool binary(binary_t &) override { return true; }
    bool start_object(std::size_t) override { return enter(); }
    bool key(string_t &) override { return true; }
    bool end_object() override { return leave(); }
    bool start_array(std::size_t) override { return enter(); }
    bool end_array() override { return leave(); }
    bool parse_error(std::size_t, const std::string &,
                     const nlohmann::detail::exception &error) override
    {
        why_ = std::string("not CBOR: ") + error.what();
        return false;
    }

    const std::string &why() const { return why_; }

  private:
    bool enter()
    {
        if (++depth_ <= kMaxDepth)
            return true;
        why_ = "nested deeper than " + std::to_string(kMaxDepth) + " levels";
        return false;
    }
    bool leave()
    {
        --depth_;
        return true;
    }

    size_t depth_ = 0;
    std::string why_;
};

/* Reads the fields of one map, each once, and refuses missing, mistyped and
 * unknown ones, naming where they are. */
class Fields {
  public:
    Fields(const json &object, std::string where) : object_(object), where_(std::move(where))
    {
        if (!object_.is_object())
            fail("is not a map");
    }

    const json &at(const char *key)
    {
        auto it = object_.find(key);
        if (it == object_.end())
            fail(std::string("has no \"") + key + "\"");
        ++read_;
        return *it;
    }
    uint64_t number(const char *key, uint64_t max)
    {
        const json &value = at(key);
        if (!value.is_number_unsigned() || value.get<uint64_t>() > max)
            fail(std::string("\"") + key + "\" is not a number from 0 to " + std::to_string(max));
        return value.get<uint64_t>();
    }
    bool flag(const char *key)
    {
        const json &value = at(key);
        if (!value.is_boolean())
            fail(std::string("\"") + key + "\" is not true or false");
        return value.get<bool>();
    }
    std::string text(const char *key)
    {
        const json &value = at(key);
        if (!value.is_string())
            fail(std::string("\"") + key + "\" is not a string");
        return value.get<std::string>();
    }
    /* A node id or null. */
    std::optional<cmm_nodeid_t> node(const char *key)
    {
        const json &value = at(key);
        if (value.is_null())
            return std::nullopt;
        if (!value.is_number_unsigned() || !usableId(value.get<uint64_t>()))
            fail(std::string("\"") + key + "\" is not a node id or null");
        return static_cast<cmm_nodeid_t>(value.get<uint64_t>());
    }
    /* Every field was read. */
    void done() const
    {
        if (read_ != object_.size())
            fail("has fields this version does not know");
    }
    [[noreturn]] void fail(const std::string &what) const { refuse(where_ + " " + what); }

    static bool usableId(uint64_t id) { return id != CMM_NO_NODE && id < CMM_INVALID_NODE_ID; }

  private:
    const json &object_;
    std::string where_;
    size_t read_ = 0;
};

constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();

NodeConfig configFrom(const json &value, const std::string &where)
{
    Fields f(value, where + " config");
    NodeConfig config;
    config.id = static_cast<cmm_nodeid_t>(f.number("id", kMaxU32));
    config.name = f.text("name");
    config.address = f.text("address");
    config.domain = static_cast<cmm_domainid_t>(f.number("domain", kMaxU32));
    config.softwareLoad = f.text("softwareLoad");
    config.eligible = f.flag("eligible");
    config.frozen = f.flag("frozen");
    config.excluded = f.flag("excluded");
    config.disqualified = f.flag("disqualified");
    config.synchroNeeded = f.flag("synchroNeeded");
    f.done();
    return config;
}

const char *healthName(Health health)
{
    switch (health) {
    case Health::Valid:
        return "valid";
    case Health::Stale:
        return "stale";
    case Health::Invalid:
        return "invalid";
    }
    return "valid";
}

/* The canonical CBOR of JSON values: each head (major type and argument) in
 * its shortest form, as nlohmann::json::to_cbor writes it. Maps are written
 * by the caller with their keys in increasing order. */
class CborWriter {
  public:
    void number(uint64_t value) { head(0, value); }
    void text(std::string_view value)
    {
        head(3, value.size());
        out_.append(value);
    }
    void array(size_t size) { head(4, size); }
    void map(size_t size) { head(5, size); }
    void flag(bool value) { out_.push_back(static_cast<char>(value ? 0xf5 : 0xf4)); }
    void node(std::optional<cmm_nodeid_t> id)
    {
        if (id)
            number(*id);
        else
            out_.push_back(static_cast<char>(0xf6)); /* null */
    }
    /* Bytes that are already one encoded value. */
    void encoded(std::string_view bytes) { out_.append(bytes); }

    const std::string &bytes() const { return out_; }
    std::string take() { return std::move(out_); }

  private:
    void head(unsigned major, uint64_t argument)
    {
        const auto type = static_cast<char>(major << 5);
        if (argument < 24) {
            out_.push_back(static_cast<char>(type | static_cast<char>(argument)));
            return;
        }
        int bytes = 8;
        char size = 27;
        if (argument <= 0xff) {
            bytes = 1;
            size = 24;
        } else if (argument <= 0xffff) {
            bytes = 2;
            size = 25;
        } else if (argument <= 0xffffffff) {
            bytes = 4;
            size = 26;
        }
        out_.push_back(static_cast<char>(type | size));
        for (int i = bytes - 1; i >= 0; --i)
            out_.push_back(static_cast<char>(argument >> (8 * i) & 0xff));
    }

    std::string out_;
};

void writeConfig(CborWriter &w, const NodeConfig &config)
{
    w.map(10);
    w.text("address");
    w.text(config.address);
    w.text("disqualified");
    w.flag(config.disqualified);
    w.text("domain");
    w.number(config.domain);
    w.text("eligible");
    w.flag(config.eligible);
    w.text("excluded");
    w.flag(config.excluded);
    w.text("frozen");
    w.flag(config.frozen);
    w.text("id");
    w.number(config.id);
    w.text("name");
    w.text(config.name);
    w.text("softwareLoad");
    w.text(config.softwareLoad);
    w.text("synchroNeeded");
    w.flag(config.synchroNeeded);
}

} // namespace

std::string Engine::snapshot() const
{
    const auto roleName = [](Role role) {
        switch (role) {
        case Role::Out:
            return "out";
        case Role::In:
            return "in";
        case Role::ViceMaster:
            return "vice-master";
        case Role::Master:
            return "master";
        }
        return "out";
    };
    CborWriter state;
    state.map(6);
    state.text("health");
    state.text(healthName(health_));
    state.text("incarnations");
    state.array(incarnations_.size());
    for (const auto &[id, number] : incarnations_) {
        state.array(2);
        state.number(id);
        state.number(number);
    }
    state.text("lastMaster");
    state.node(lastMaster_);
    state.text("master");
    state.node(master_);
    state.text("nodes");
    state.array(nodes_.size());
    for (const auto &[id, node] : nodes_) {
        state.map(7);
        state.text("config");
        writeConfig(state, node.config);
        state.text("disqualified");
        state.flag(node.disqualified);
        state.text("eligible");
        state.flag(node.eligible);
        state.text("formerMaster");
        state.flag(node.formerMaster);
        state.text("removed");
        state.flag(node.removed);
        state.text("role");
        state.text(roleName(node.role));
        state.text("synchroNeeded");
        state.flag(node.synchroNeeded);
    }
    state.text("viceMaster");
    state.node(vice_);

    CborWriter envelope;
    envelope.map(4);
    envelope.text("checksum");
    envelope.number(digestOf(state.bytes()));
    envelope.text("format");
    envelope.text(kFormat);
    envelope.text("state");
    envelope.encoded(state.bytes());
    envelope.text("version");
    envelope.number(kVersion);
    return envelope.take();
}

StateDigest Engine::digest() const
{
    return digestOf(snapshot());
}

void Engine::restore(std::string_view bytes)
{
    DepthCheck depth;
    if (!json::sax_parse(bytes.begin(), bytes.end(), &depth, json::input_format_t::cbor))
        refuse(depth.why().empty() ? "not CBOR" : depth.why());
    json envelope;
    try {
        envelope = json::from_cbor(bytes.begin(), bytes.end());
    } catch (const json::exception &error) {
        refuse(std::string("not CBOR: ") + error.what());
    }

    Fields top(envelope, "envelope");
    if (top.text("format") != kFormat)
        refuse(std::string("not a CMM engine snapshot (format is not \"") + kFormat + "\")");
    const uint64_t version = top.number("version", std::numeric_limits<uint64_t>::max());
    if (version != kVersion)
        refuse("format version " + std::to_string(version) + "; this engine reads version " +
               std::to_string(kVersion));
    const json &state = top.at("state");
    const uint64_t checksum = top.number("checksum", std::numeric_limits<uint64_t>::max());
    top.done();
    const std::vector<uint8_t> stateBytes = json::to_cbor(state);
    if (checksum != digestOf(std::string_view(reinterpret_cast<const char *>(stateBytes.data()),
                                              stateBytes.size())))
        refuse("checksum mismatch: the snapshot is corrupt");

    Engine fresh;
    Fields s(state, "state");

    const json &nodes = s.at("nodes");
    if (!nodes.is_array())
        refuse("\"nodes\" is not a list");
    NodeTable table;
    for (const json &entry : nodes) {
        const std::string where = "node #" + std::to_string(table.size() + 1);
        Fields f(entry, where);
        Node node;
        node.config = configFrom(f.at("config"), where);
        const std::string role = f.text("role");
        if (role == "out")
            node.role = Role::Out;
        else if (role == "in")
            node.role = Role::In;
        else if (role == "vice-master")
            node.role = Role::ViceMaster;
        else if (role == "master")
            node.role = Role::Master;
        else
            f.fail("has an unknown role \"" + role + "\"");
        node.eligible = f.flag("eligible");
        node.disqualified = f.flag("disqualified");
        node.synchroNeeded = f.flag("synchroNeeded");
        node.formerMaster = f.flag("formerMaster");
        node.removed = f.flag("removed");
        f.done();
        if (!fresh.nodes_.empty() && node.config.id <= fresh.nodes_.rbegin()->first)
            f.fail("is not listed by increasing node id");
        table.push_back(node.config);
        fresh.nodes_.emplace(node.config.id, std::move(node));
    }
    if (const std::string why = validateTable(table); !why.empty())
        refuse("node table: " + why);

    const json &incarnations = s.at("incarnations");
    if (!incarnations.is_array())
        refuse("\"incarnations\" is not a list");
    for (const json &pair : incarnations) {
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_unsigned() ||
            !pair[1].is_number_unsigned() || !Fields::usableId(pair[0].get<uint64_t>()) ||
            pair[1].get<uint64_t>() > kMaxU32)
            refuse("an incarnation is not a [node id, number] pair");
        const auto id = static_cast<cmm_nodeid_t>(pair[0].get<uint64_t>());
        if (!fresh.incarnations_.empty() && id <= fresh.incarnations_.rbegin()->first)
            refuse("incarnations are not listed by increasing node id");
        fresh.incarnations_.emplace(id, static_cast<cmm_incarn_t>(pair[1].get<uint64_t>()));
    }

    fresh.master_ = s.node("master");
    fresh.vice_ = s.node("viceMaster");
    fresh.lastMaster_ = s.node("lastMaster");
    const std::string health = s.text("health");
    if (health == "valid")
        fresh.health_ = Health::Valid;
    else if (health == "stale")
        fresh.health_ = Health::Stale;
    else if (health == "invalid")
        fresh.health_ = Health::Invalid;
    else
        refuse("unknown health \"" + health + "\"");
    s.done();

    /* checkInvariants() looks the role holders up in the table. */
    if (fresh.master_ && !fresh.nodes_.contains(*fresh.master_))
        refuse("master " + std::to_string(*fresh.master_) + " is not in the node table");
    if (fresh.vice_ && !fresh.nodes_.contains(*fresh.vice_))
        refuse("vice-master " + std::to_string(*fresh.vice_) + " is not in the node table");
    for (const auto &[id, node] : fresh.nodes_)
        if (node.role != Role::Out && !fresh.incarnations_.contains(id))
            refuse("node " + std::to_string(id) + " is in the cluster without an incarnation");
    if (const std::string broken = fresh.checkInvariants(); !broken.empty())
        refuse("the state breaks the engine's rules: " + broken);
    if (fresh.snapshot() != bytes)
        refuse("not in canonical form");

    *this = std::move(fresh);
}

} // namespace gs::cmm
