/* SPDX-License-Identifier: MIT */
/* gsd's admin documents (docs/wire-protocol.md, "Admin sessions") as
 * tables and lines for people. */
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace gs::gsctl {

/* `text` safe for a terminal: control characters (C0, DEL, C1) written as
 * \xNN (\u00NN for C1), so that what a client named (a provider's local
 * name) cannot move the cursor or forge a row. */
std::string printable(const std::string &text);

std::string renderGroups(const nlohmann::json &doc);
std::string renderGroup(const nlohmann::json &doc);
std::string renderClients(const nlohmann::json &doc);
std::string renderNodes(const nlohmann::json &doc);
std::string renderStats(const nlohmann::json &doc);
/* One event on one line: "TIME EVENT GROUP details". */
std::string renderEvent(const nlohmann::json &event);
/* Prometheus text as JSON: [{"name", "labels": {...}, "value"}], comments
 * left out. */
nlohmann::json parseMetrics(const std::string &text);

} // namespace gs::gsctl
