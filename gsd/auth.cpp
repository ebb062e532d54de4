/* SPDX-License-Identifier: MIT */
#include "gsd/auth.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace gs::broker {
namespace {

constexpr std::chrono::seconds kGroupCacheTime{1};

template <class T>
std::optional<T> parseNumber(std::string_view text)
{
    T value{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size())
        return std::nullopt;
    return value;
}

/* The reentrant NSS lookups want a caller buffer and report ERANGE when it
 * is too small; grow it up to a sane bound. */
template <class Entry, class Lookup>
bool lookupEntry(Entry &entry, std::vector<char> &buffer, Lookup lookup)
{
    buffer.resize(4096);
    for (;;) {
        Entry *result = nullptr;
        const int rc = lookup(&entry, buffer.data(), buffer.size(), &result);
        if (rc == ERANGE && buffer.size() < (1u << 22)) {
            buffer.resize(buffer.size() * 2);
            continue;
        }
        return rc == 0 && result != nullptr;
    }
}

struct GroupEntry {
    gid_t gid = 0;
    std::vector<std::string> members;
};

std::optional<GroupEntry> lookupGroup(const std::string &name)
{
    group entry{};
    std::vector<char> buffer;
    if (!lookupEntry(entry, buffer, [&](group *e, char *b, size_t n, group **r) {
            return getgrnam_r(name.c_str(), e, b, n, r);
        }))
        return std::nullopt;
    GroupEntry out{entry.gr_gid, {}};
    for (char **member = entry.gr_mem; member && *member; ++member)
        out.members.emplace_back(*member);
    return out;
}

std::optional<std::string> userName(uid_t uid)
{
    passwd entry{};
    std::vector<char> buffer;
    if (!lookupEntry(entry, buffer, [&](passwd *e, char *b, size_t n, passwd **r) {
            return getpwuid_r(uid, e, b, n, r);
        }))
        return std::nullopt;
    return std::string(entry.pw_name);
}

} // namespace

std::optional<PeerCredentials> parsePeerAddress(std::string_view address)
{
    std::string_view fields[3];
    for (int i = 2; i >= 0; --i) {
        const size_t colon = address.rfind(':');
        if (colon == std::string_view::npos)
            return std::nullopt;
        fields[i] = address.substr(colon + 1);
        address = address.substr(0, colon);
    }
    const auto uid = parseNumber<uid_t>(fields[0]);
    const auto gid = parseNumber<gid_t>(fields[1]);
    const auto pid = parseNumber<pid_t>(fields[2]);
    if (!uid || !gid || !pid || *pid <= 0)
        return std::nullopt;
    return PeerCredentials{*uid, *gid, *pid};
}

std::optional<PeerCredentials> socketCredentials(int fd)
{
    ucred cred{};
    socklen_t size = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0 || size != sizeof cred ||
        cred.pid <= 0)
        return std::nullopt;
    PeerCredentials peer{cred.uid, cred.gid, cred.pid, {}};
    /* SO_PEERGROUPS answers ERANGE with the size it needs. */
    std::vector<gid_t> groups(64);
    for (int attempt = 0; attempt < 4; ++attempt) {
        socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
            groups.resize(bytes / sizeof(gid_t));
            peer.groups = std::move(groups);
            return peer;
        }
        if (errno != ERANGE)
            return std::nullopt;
        groups.resize(bytes / sizeof(gid_t) + 1);
    }
    return std::nullopt;
}

Authorizer::Authorizer(std::string group) : group_(std::move(group)), self_(geteuid()) {}

std::optional<gid_t> Authorizer::groupId() const
{
    if (const auto entry = lookupGroup(group_))
        return entry->gid;
    return std::nullopt;
}

const Authorizer::Cached &Authorizer::groupEntry() const
{
    const auto now = std::chrono::steady_clock::now();
    if (!cache_ || now - cache_->readAt >= kGroupCacheTime) {
        Cached fresh{std::nullopt, {}, now};
        if (auto entry = lookupGroup(group_)) {
            fresh.gid = entry->gid;
            fresh.members = std::move(entry->members);
        }
        cache_ = std::move(fresh);
    }
    return *cache_;
}

bool Authorizer::admits(const PeerCredentials &peer) const
{
    if (peer.uid == 0 || peer.uid == self_)
        return true;
    /* Looked up again at least every second so membership changes apply
     * without a restart of gsd. */
    const Cached &entry = groupEntry();
    if (!entry.gid)
        return false;
    if (peer.gid == *entry.gid)
        return true;
    if (std::find(peer.groups.begin(), peer.groups.end(), *entry.gid) != peer.groups.end())
        return true;
    const auto name = userName(peer.uid);
    return name &&
           std::find(entry.members.begin(), entry.members.end(), *name) != entry.members.end();
}

} // namespace gs::broker
