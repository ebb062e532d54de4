/* SPDX-License-Identifier: MIT */
/* The domain state blob (gsd/broker_state.hpp). */
#include "gsd/broker_state.hpp"

#include "common/state_digest.hpp"

#include <fmt/format.h>

#include <limits>

namespace gs::broker {
namespace {

constexpr std::string_view kMagic = "GSDS";
/* Magic, versions, body length. */
constexpr size_t kHeaderSize = 4 + 2 + 2 + 4;
constexpr size_t kChecksumSize = 8;
constexpr uint64_t kMaxSerial = kClientSerialMask;

template <class T>
void put(std::string &out, T value)
{
    for (size_t i = 0; i < sizeof(T); ++i)
        out.push_back(static_cast<char>(static_cast<uint64_t>(value) >> (8 * i)));
}

void putBytes(std::string &out, std::string_view bytes)
{
    put<uint32_t>(out, static_cast<uint32_t>(bytes.size()));
    out.append(bytes);
}

[[noreturn]] void damaged(const std::string &why)
{
    throw StateRefused(StateRefused::Why::Damaged, "the domain state is damaged: " + why);
}

class Reader {
  public:
    explicit Reader(std::string_view bytes) : rest_(bytes) {}

    template <class T>
    T get(const char *what)
    {
        if (rest_.size() < sizeof(T))
            damaged(fmt::format("it ends inside {}", what));
        uint64_t value = 0;
        for (size_t i = 0; i < sizeof(T); ++i)
            value |= uint64_t{static_cast<unsigned char>(rest_[i])} << (8 * i);
        rest_.remove_prefix(sizeof(T));
        return static_cast<T>(value);
    }
    std::string_view bytes(const char *what)
    {
        const uint32_t size = get<uint32_t>(what);
        if (rest_.size() < size)
            damaged(fmt::format("{} is cut short ({} of {} bytes)", what, rest_.size(), size));
        const std::string_view out = rest_.substr(0, size);
        rest_.remove_prefix(size);
        return out;
    }
    /* A count of entries of `entrySize` bytes each: never more than fit. */
    uint32_t count(size_t entrySize, const char *what)
    {
        const uint32_t n = get<uint32_t>(what);
        if (n > rest_.size() / entrySize)
            damaged(fmt::format("{} counts {} entries, more than its bytes hold", what, n));
        return n;
    }
    size_t left() const { return rest_.size(); }

  private:
    std::string_view rest_;
};

} // namespace

std::string encodeDomainState(const DomainState &state)
{
    std::string body;
    putBytes(body, state.engine);
    putBytes(body, state.cmm);
    put<int32_t>(body, state.timeLimitCeiling);
    put<uint32_t>(body, static_cast<uint32_t>(state.nextSerial.size()));
    for (const auto &[node, serial] : state.nextSerial) {
        put<uint16_t>(body, static_cast<uint16_t>(node));
        put<uint64_t>(body, serial);
    }
    put<uint32_t>(body, static_cast<uint32_t>(state.timerDueMs.size()));
    for (const auto &[timer, ms] : state.timerDueMs) {
        put<uint64_t>(body, timer);
        put<uint32_t>(body, ms);
    }
    std::string out(kMagic);
    put<uint16_t>(out, kDomainStateMajor);
    put<uint16_t>(out, kDomainStateMinor);
    put<uint32_t>(out, static_cast<uint32_t>(body.size()));
    out += body;
    put<uint64_t>(out, digestOf(out));
    return out;
}

DomainState decodeDomainState(std::string_view blob)
{
    if (blob.size() < kHeaderSize + kChecksumSize || blob.substr(0, kMagic.size()) != kMagic)
        damaged("it is not a gsd domain state");
    Reader header(blob.substr(kMagic.size()));
    const auto major = header.get<uint16_t>("the version");
    const auto minor = header.get<uint16_t>("the version");
    /* The version is read before the checksum is checked: a blob of
     * another format is refused as such, whatever its checksum is. */
    if (major != kDomainStateMajor)
        throw StateRefused(StateRefused::Why::Version,
                           fmt::format("the domain state is of format version {}.{}, this gsd "
                                       "reads {}.x",
                                       major, minor, kDomainStateMajor));
    const auto bodySize = header.get<uint32_t>("the body length");
    if (blob.size() != kHeaderSize + size_t{bodySize} + kChecksumSize)
        damaged(fmt::format("{} bytes, its header says {}", blob.size(),
                            kHeaderSize + size_t{bodySize} + kChecksumSize));
    const std::string_view covered = blob.substr(0, blob.size() - kChecksumSize);
    Reader trailer(blob.substr(covered.size()));
    if (trailer.get<uint64_t>("the checksum") != digestOf(covered))
        damaged("its checksum does not match");

    Reader body(blob.substr(kHeaderSize, bodySize));
    DomainState state;
    state.engine = std::string(body.bytes("the GSAPI engine's snapshot"));
    state.cmm = std::string(body.bytes("the CMM engine's snapshot"));
    state.timeLimitCeiling = body.get<int32_t>("the time-limit ceiling");
    int previousNode = 0;
    for (uint32_t n = body.count(2 + 8, "the client serials"); n > 0; --n) {
        const auto node = static_cast<int16_t>(body.get<uint16_t>("a node number"));
        const auto serial = body.get<uint64_t>("a client serial");
        if (node <= previousNode)
            damaged(fmt::format("node {} of the client serials is out of order or range", node));
        if (serial == 0 || serial > kMaxSerial + 1)
            damaged(fmt::format("node {}'s next client serial {} is out of range", node, serial));
        state.nextSerial.emplace(node, serial);
        previousNode = node;
    }
    bool first = true;
    TimerId previousTimer = 0;
    for (uint32_t n = body.count(8 + 4, "the timers"); n > 0; --n) {
        const auto timer = body.get<uint64_t>("a timer id");
        const auto ms = body.get<uint32_t>("a timer's due time");
        if (timer == 0 || (!first && timer <= previousTimer))
            damaged(fmt::format("timer {} is out of order", timer));
        state.timerDueMs.emplace(timer, ms);
        previousTimer = timer;
        first = false;
    }
    if (body.left() != 0 && minor <= kDomainStateMinor)
        damaged(fmt::format("{} bytes follow its last field", body.left()));
    return state;
}

} // namespace gs::broker
