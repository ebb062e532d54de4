/* SPDX-License-Identifier: MIT */
#include "gsd/sessions.hpp"

namespace gs::broker {
namespace {

template <class Map>
Session *lookup(std::unordered_map<ClientId, Session> &sessions, const Map &index,
                const typename Map::key_type &key)
{
    const auto it = index.find(key);
    return it == index.end() ? nullptr : &sessions.at(it->second);
}

} // namespace

Session &SessionTable::add(Session session)
{
    const ClientId id = session.id;
    byRoute_[session.route] = id;
    byProcess_[{session.process, session.kind}] = id;
    return sessions_.insert_or_assign(id, std::move(session)).first->second;
}

Session *SessionTable::find(ClientId id)
{
    const auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : &it->second;
}

Session *SessionTable::findByRoute(const std::string &route)
{
    return lookup(sessions_, byRoute_, route);
}

Session *SessionTable::findByProcess(uint64_t process, int kind)
{
    return lookup(sessions_, byProcess_, std::pair{process, kind});
}

std::optional<Session> SessionTable::take(ClientId id)
{
    const auto it = sessions_.find(id);
    if (it == sessions_.end())
        return std::nullopt;
    std::optional<Session> session(std::move(it->second));
    sessions_.erase(it);
    byRoute_.erase(session->route);
    byProcess_.erase({session->process, session->kind});
    return session;
}

std::vector<ClientId> SessionTable::ids() const
{
    std::vector<ClientId> out;
    out.reserve(sessions_.size());
    for (const auto &[id, session] : sessions_)
        out.push_back(id);
    return out;
}

void SessionTable::rememberEnded(const std::string &route, std::string reason, SendWindow window)
{
    if (ended_.insert_or_assign(route, Ended{std::move(reason), std::move(window)}).second)
        endedOrder_.push_back(route);
    while (endedOrder_.size() > kEndedMemory) {
        ended_.erase(endedOrder_.front());
        endedOrder_.pop_front();
    }
}

std::optional<std::string> SessionTable::endedReason(const std::string &route) const
{
    const auto it = ended_.find(route);
    if (it == ended_.end())
        return std::nullopt;
    return it->second.reason;
}

SendWindow *SessionTable::endedWindow(const std::string &route)
{
    const auto it = ended_.find(route);
    return it == ended_.end() ? nullptr : &it->second.window;
}

} // namespace gs::broker
