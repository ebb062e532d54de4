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

const Session *SessionTable::find(ClientId id) const
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

std::string peerName(const Session &session)
{
    return "client " + std::to_string(session.id) + " (pid " + std::to_string(session.peer.pid) +
           ", uid " + std::to_string(session.peer.uid) + ")";
}

} // namespace gs::broker
