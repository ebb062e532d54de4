/* SPDX-License-Identifier: MIT */
/*
 * What the cross-node public-API tests share: a started domain (a Cluster
 * with one synced gsd --cluster per node) and helpers over tests/api's
 * clients (forked agent processes in the root namespace; a client picks its
 * node by endpoint). A provider is named "<instance>.<node>" in the lines,
 * the node being its gsd's node number (contract §6.3).
 */
#pragma once

#include "../api/harness.hpp"
#include "harness.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <source_location>
#include <string>
#include <vector>

namespace cluster {

using api::Client;
using api::ClientProcess;
using api::Match;

/* Starts gsd on each of `nodes` and waits until each is synced. */
inline void startDomain(Cluster &c, const std::vector<int> &nodes,
                        std::source_location where = std::source_location::current())
{
    for (int k : nodes)
        c.startGsd(k);
    for (int k : nodes) {
        if (!c.waitSynced(k, 30000))
            DOCTEST_ADD_FAIL_AT(where.file_name(), static_cast<int>(where.line()),
                                "gsd on node " << k << " did not become synced within 30 s\n"
                                               << c.describe());
    }
}

/* A client process at node k. */
inline std::unique_ptr<ClientProcess> clientAt(Cluster &c, int node, const std::string &name)
{
    return std::make_unique<ClientProcess>(name + "@n" + std::to_string(node), c.endpoint(node));
}

struct Provider {
    Client *client;
    int instance;
    int node;
    std::string id() const { return std::to_string(instance) + "." + std::to_string(node); }
};

/* Joins the providers to `group` one after the other, each join approved at
 * every member before the next, then drops their pending lines. */
inline void joinAcross(const std::vector<Provider> &providers, const std::string &group,
                       const std::string &options = "",
                       std::source_location where = std::source_location::current())
{
    for (size_t i = 0; i < providers.size(); ++i) {
        const Provider &p = providers[i];
        const api::Reply r = p.client->call(
            "join " + group + " " + std::to_string(p.instance) + " " + options, where);
        if (r.rc != "HA_GS_OK")
            DOCTEST_ADD_FAIL_AT(where.file_name(), static_cast<int>(where.line()),
                                p.client->name() << ": join " << group << " gave " << r.line);
        for (size_t j = 0; j <= i; ++j)
            providers[j].client->waitFor({group + ": approved JOIN", {"chg=[" + p.id() + "]"}},
                                         api::kWaitMs, where);
    }
    for (const Provider &p : providers)
        p.client->clearPending();
}

/* Waits for the first line matching `what` at every client; they must all
 * be the same line. Returns it. */
inline std::string atAll(const std::vector<Client *> &clients, const Match &what,
                         std::source_location where = std::source_location::current())
{
    std::string first;
    for (Client *c : clients) {
        const std::string line = c->waitFor(what, api::kWaitMs, where);
        if (first.empty())
            first = line;
        INFO("client " << c->name());
        CHECK(line == first);
    }
    return first;
}

/* The lines of a client's history that start with `prefix`. */
inline std::vector<std::string> historyWith(const Client &c, const std::string &prefix)
{
    std::vector<std::string> out;
    for (const auto &line : c.history())
        if (line.rfind(prefix, 0) == 0)
            out.push_back(line);
    return out;
}

} // namespace cluster
