/* SPDX-License-Identifier: MIT */
#include "gsd/connections.hpp"

#include <sys/socket.h>
#include <sys/stat.h>

namespace gs::broker {

Connection &ConnectionTable::add(Connection connection)
{
    erase(connection.id.fd);
    const int fd = connection.id.fd;
    return byFd_.insert_or_assign(fd, std::move(connection)).first->second;
}

Connection *ConnectionTable::find(int fd)
{
    const auto it = byFd_.find(fd);
    return it == byFd_.end() ? nullptr : &it->second;
}

Connection *ConnectionTable::find(const ConnectionId &id)
{
    Connection *connection = find(id.fd);
    return connection && connection->id == id ? connection : nullptr;
}

Connection *ConnectionTable::findByToken(const std::string &token)
{
    const auto it = byToken_.find(token);
    return it == byToken_.end() ? nullptr : find(it->second);
}

void ConnectionTable::bindToken(Connection &connection, const std::string &token)
{
    connection.token = token;
    byToken_[token] = connection.id.fd;
}

void ConnectionTable::erase(int fd)
{
    const auto it = byFd_.find(fd);
    if (it == byFd_.end())
        return;
    if (!it->second.token.empty())
        byToken_.erase(it->second.token);
    byFd_.erase(it);
}

size_t ConnectionTable::pending() const
{
    size_t count = 0;
    for (const auto &[fd, connection] : byFd_)
        count += connection.client == 0 ? 1 : 0;
    return count;
}

size_t ConnectionTable::pendingOf(uid_t uid) const
{
    size_t count = 0;
    for (const auto &[fd, connection] : byFd_)
        count += connection.client == 0 && connection.peer.uid == uid ? 1 : 0;
    return count;
}

void TokenMemory::remember(const std::string &token)
{
    if (!tokens_.insert(token).second)
        return;
    order_.push_back(token);
    while (order_.size() > kCapacity) {
        tokens_.erase(order_.front());
        order_.pop_front();
    }
}

bool TokenMemory::take(const std::string &token)
{
    /* The order keeps the taken token until it ages out: erasing from the
     * middle of the deque is not worth it, and a stale entry there only
     * costs its memory. */
    return tokens_.erase(token) != 0;
}

ino_t inodeOf(int fd)
{
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        return 0;
    return st.st_ino;
}

bool shutdownConnection(const ConnectionId &id)
{
    if (id.fd < 0 || id.inode == 0 || inodeOf(id.fd) != id.inode)
        return false;
    return ::shutdown(id.fd, SHUT_RDWR) == 0;
}

} // namespace gs::broker
