/* SPDX-License-Identifier: MIT */
#include "tools/gsctl/render.hpp"
#include "common/model.hpp"
#include "tools/gsctl/table.hpp"

#include <fmt/format.h>

#include <sstream>

namespace gs::gsctl {

using nlohmann::json;

std::string printable(const std::string &text)
{
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else if (c == 0xc2 && i + 1 < text.size() &&
                   static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                   static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
            out += fmt::format("\\u00{:02x}", static_cast<unsigned char>(text[++i]));
        } else {
            out += text[i];
        }
    }
    return out;
}

namespace {

/* A value as a cell: strings bare but printable, null as "-". */
std::string cell(const json &value)
{
    if (value.is_null())
        return "-";
    if (value.is_string())
        return printable(value.get<std::string>());
    if (value.is_boolean())
        return value.get<bool>() ? "yes" : "no";
    return value.dump();
}

/* A client id as NODE:SERIAL (common/model.hpp); --json keeps the number. */
std::string client(const json &id)
{
    if (!id.is_number_unsigned())
        return cell(id);
    const auto value = id.get<ClientId>();
    return fmt::format("{}:{}", clientNode(value), clientSerial(value));
}

/* "3@1 (pid 4242)": instance 3 on node 1, the pid where known. */
std::string provider(const json &p)
{
    std::string text = fmt::format("{}@{}", p.at("instance").get<int>(), p.at("node").get<int>());
    if (!p.at("pid").is_null())
        text += fmt::format(" (pid {})", p.at("pid").get<long>());
    return text;
}

std::string providers(const json &list)
{
    std::string text;
    for (const auto &p : list)
        text += (text.empty() ? "" : ", ") + provider(p);
    return text.empty() ? "-" : text;
}

std::string joined(const json &list, const char *separator = "|")
{
    std::string text;
    for (const auto &item : list)
        text += (text.empty() ? "" : separator) + cell(item);
    return text.empty() ? "-" : text;
}

std::string bytes(const json &value)
{
    const auto n = value.at("bytes").get<size_t>();
    if (n == 0)
        return "(empty)";
    if (!value.at("text").is_null())
        return fmt::format("\"{}\" ({} bytes)", cell(value.at("text")), n);
    std::string hex = value.at("hex").get<std::string>();
    if (hex.size() > 64)
        hex = hex.substr(0, 64) + "...";
    return fmt::format("0x{} ({} bytes)", hex, n);
}

} // namespace

std::string renderGroups(const json &doc)
{
    Table table({"GROUP", "PROVIDERS", "SUBSCRIBERS", "PROTOCOL", "PHASE", "QUEUED", "STATE"});
    for (const auto &g : doc.at("groups")) {
        const json &p = g.at("protocol");
        table.add({cell(g.at("name")), cell(g.at("providers")), cell(g.at("subscribers")),
                   p.is_null() ? "-" : cell(p.at("type")), p.is_null() ? "-" : cell(p.at("phase")),
                   cell(g.at("queued")),
                   fmt::format("{} bytes", g.at("state_bytes").get<size_t>())});
    }
    std::string out = table.render();
    out += fmt::format("node {} of domain '{}'{}; hosts up: {}\n", doc.at("node").get<int>(),
                       cell(doc.at("domain")),
                       doc.at("synced").get<bool>() ? "" : " (does not hold the domain's state)",
                       joined(doc.at("hosts"), ", "));
    return out;
}

std::string renderGroup(const json &doc)
{
    std::string out = fmt::format("group '{}' (as node {} sees it)\n", cell(doc.at("name")),
                                  doc.at("node").get<int>());
    const json &a = doc.at("attributes");
    out +=
        fmt::format("attributes: {}-phase, time limit {} s, default vote {}, batch control {}, "
                    "source group {}\n",
                    cell(a.at("num_phases")), cell(a.at("time_limit")), cell(a.at("default_vote")),
                    cell(a.at("batch_control")), cell(a.at("source_group")));
    out += "state: " + bytes(doc.at("state")) + "\n\nproviders:\n";
    Table members({"  PROVIDER", "CLIENT", "PID", "LOCAL NAME"});
    for (const auto &p : doc.at("providers"))
        members.add({fmt::format("  {}@{}", p.at("instance").get<int>(), p.at("node").get<int>()),
                     client(p.at("client")), cell(p.at("pid")), cell(p.at("local_name"))});
    out += members.render();
    out += "\nsubscribers:\n";
    Table subscribers({"  NODE", "CLIENT", "PID", "SUBSCRIBED TO"});
    for (const auto &node : doc.at("subscribers"))
        for (const auto &s : node.at("subscriptions"))
            subscribers.add({"  " + cell(node.at("node")), client(s.at("client")),
                             cell(s.at("pid")), joined(s.at("control"))});
    out += subscribers.empty() ? "  none\n" : subscribers.render();
    const json &p = doc.at("protocol");
    if (p.is_null()) {
        out += "\nno protocol running\n";
    } else {
        const json &left = p.at("time_left_ms");
        out += fmt::format(
            "\nprotocol: {} ({}), phase {}, time limit {} s, {}{}\n", cell(p.at("type")),
            p.at("n_phase").get<bool>() ? "n-phase" : "one-phase", cell(p.at("phase")),
            cell(p.at("time_limit")),
            left.is_null() ? "no timer" : fmt::format("{:.1f} s left", left.get<double>() / 1000.0),
            p.at("approving").get<bool>() ? ", approved: waiting for deactivate scripts" : "");
        out += "  changing: " + providers(p.at("changing")) + "\n";
        out += "  not voted yet: " + providers(p.at("not_voted")) + "\n";
        Table voters({"  VOTER", "VOTED", "VOTE"});
        for (const auto &v : p.at("voters"))
            voters.add({"  " + provider(v), cell(v.at("voted")), cell(v.at("vote"))});
        out += voters.render();
        if (!p.at("proposed_state").is_null())
            out += "  proposed state: " + bytes(p.at("proposed_state")) + "\n";
    }
    out += "\nqueued changes:";
    if (doc.at("queue").empty())
        out += " none\n";
    else {
        out += "\n";
        for (const auto &q : doc.at("queue"))
            out += fmt::format("  {} {}\n", cell(q.at("kind")),
                               q.at("provider").is_null() ? "" : provider(q.at("provider")));
    }
    out += "\n(pids and local names are known only to a client's own node: for providers of "
           "other nodes, run gsctl there)\n";
    return out;
}

std::string renderClients(const json &doc)
{
    Table table({"CLIENT", "KIND", "PID", "UID", "TOKENS", "QUEUED BYTES"});
    for (const auto &c : doc.at("sessions"))
        table.add({client(c.at("client")), cell(c.at("kind")), cell(c.at("pid")), cell(c.at("uid")),
                   cell(c.at("tokens")), cell(c.at("queue_bytes"))});
    std::string out = table.render();
    const json &remote = doc.at("other_nodes");
    if (!remote.empty()) {
        out += "\nGSAPI clients of other nodes (run gsctl on their node for pid, uid and queue):\n";
        Table others({"CLIENT", "NODE", "TOKENS"});
        for (const auto &c : remote)
            others.add({client(c.at("client")), cell(c.at("node")), cell(c.at("tokens"))});
        out += others.render();
    }
    return out;
}

std::string renderNodes(const json &doc)
{
    std::string out =
        fmt::format("this node: {} of domain '{}', {}{}\n", doc.at("node").get<int>(),
                    cell(doc.at("domain_name")),
                    doc.at("synced").get<bool>() ? "holds the domain's state"
                                                 : "does not hold the domain's state",
                    doc.at("timekeeper").get<bool>() ? ", keeps the domain's time" : "");
    const json &domain = doc.at("domain");
    if (domain.is_null())
        out += "domain: one node (gsd without --cluster)\n";
    else
        out += fmt::format("domain: {}; gsd up on nodes {}; holding the state: {}\n",
                           domain.at("quorate").get<bool>() ? "quorate" : "NOT quorate",
                           joined(domain.at("members"), ", "), joined(domain.at("synced"), ", "));
    out += "HostMembership: " + joined(doc.at("hosts"), ", ") + "\n\nCMM:\n";
    Table table({"  NODE", "NAME", "ADDRESS", "ROLE", "ELIGIBLE", "INCARNATION"});
    for (const auto &n : doc.at("cmm").at("nodes"))
        table.add({"  " + cell(n.at("id")), cell(n.at("name")), cell(n.at("address")),
                   cell(n.at("role")), cell(n.at("eligible")), cell(n.at("incarnation"))});
    out += table.render();
    return out;
}

std::string renderStats(const json &doc)
{
    std::string out = fmt::format("gsd {} on node {}, up {} s, {}\n", cell(doc.at("version")),
                                  cell(doc.at("node")), cell(doc.at("uptime_s")),
                                  doc.at("synced").get<bool>() ? "serving" : "not serving GSAPI");
    const json &s = doc.at("sessions");
    out += fmt::format("sessions: {} GSAPI, {} CMM, {} admin (at most {}); GSAPI clients in the "
                       "domain: {}\n",
                       cell(s.at("gsapi")), cell(s.at("cmm")), cell(s.at("admin")),
                       cell(doc.at("max_clients")), cell(doc.at("domain_clients")));
    out +=
        fmt::format("groups: {}, providers {}, subscriptions {}, protocols running {}, queued "
                    "changes {}\n",
                    cell(doc.at("groups")), cell(doc.at("providers")), cell(doc.at("subscribers")),
                    cell(doc.at("protocols_running")), cell(doc.at("queued_changes")));
    out += fmt::format("state memory: {} of {} bytes; send queues: {} bytes (largest {})\n",
                       cell(doc.at("state_bytes")), cell(doc.at("max_state_bytes")),
                       cell(doc.at("send_queue_bytes")), cell(doc.at("send_queue_bytes_max")));
    out += fmt::format("collisions {}, time limits exceeded {}, clients gone {}, nodes gone {}\n\n",
                       cell(doc.at("collisions")), cell(doc.at("time_limits_exceeded")),
                       cell(doc.at("clients_gone")), cell(doc.at("nodes_gone")));
    Table protocols({"PROTOCOL", "OUTCOME", "COUNT"});
    for (const auto &p : doc.at("protocols"))
        protocols.add({cell(p.at("type")), cell(p.at("outcome")), cell(p.at("count"))});
    out += protocols.render() + "\n";
    Table refusals({"REFUSED", "COUNT"});
    for (const auto &[reason, count] : doc.at("refusals").items())
        refusals.add({reason, cell(count)});
    out += refusals.render() + "\n";
    Table latency({"PHASE", "VOTES", "MEAN MS"});
    for (const auto &l : doc.at("vote_latency"))
        latency.add({cell(l.at("phase")), cell(l.at("votes")),
                     fmt::format("{:.2f}", l.at("mean_ms").get<double>())});
    out += latency.render();
    return out;
}

std::string renderEvent(const json &e)
{
    std::string details;
    const std::string kind = e.value("event", "?");
    const auto has = [&](const char *key) { return e.contains(key) && !e.at(key).is_null(); };
    if (has("protocol"))
        details += " " + cell(e.at("protocol"));
    if (has("phase"))
        details += " phase " + cell(e.at("phase"));
    if (has("by"))
        details += " by " + provider(e.at("by"));
    if (has("provider"))
        details += " " + provider(e.at("provider"));
    if (has("vote"))
        details += " " + cell(e.at("vote"));
    if (has("latency_ms"))
        details += fmt::format(" after {:.1f} ms", e.at("latency_ms").get<double>());
    if (has("voters"))
        details += " voters " + providers(e.at("voters"));
    if (has("late"))
        details += " late " + providers(e.at("late"));
    if (has("changing") && !e.at("changing").empty())
        details += " changing " + providers(e.at("changing"));
    if (has("summary") && !e.at("summary").empty())
        details += " " + joined(e.at("summary"));
    if (has("client"))
        details += " client " + client(e.at("client"));
    if (has("pid"))
        details += " pid " + cell(e.at("pid"));
    if (has("reason"))
        details += " (" + cell(e.at("reason")) + ")";
    if (has("subject"))
        details += " node " + cell(e.at("subject"));
    if (has("synced"))
        details += e.at("synced").get<bool>() ? " holds the domain's state" : " lost the state";
    if (has("why"))
        details += ": " + cell(e.at("why"));
    const std::string group = has("group") && !e.at("group").get<std::string>().empty()
                                  ? " '" + cell(e.at("group")) + "'"
                                  : "";
    return fmt::format("{} node {} {}{}{}", e.value("time", "?"), cell(e.at("node")), kind, group,
                       details);
}

json parseMetrics(const std::string &text)
{
    json samples = json::array();
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#')
            continue;
        const size_t space = line.rfind(' ');
        if (space == std::string::npos)
            continue;
        std::string name = line.substr(0, space);
        const std::string value = line.substr(space + 1);
        json labels = json::object();
        if (const size_t brace = name.find('{'); brace != std::string::npos) {
            const std::string inner = name.substr(brace + 1, name.size() - brace - 2);
            name.resize(brace);
            /* key="value" pairs; gsd's values hold no '",' sequence. */
            size_t at = 0;
            while (at < inner.size()) {
                const size_t eq = inner.find("=\"", at);
                if (eq == std::string::npos)
                    break;
                size_t end = eq + 2;
                std::string v;
                while (end < inner.size() && inner[end] != '"') {
                    if (inner[end] == '\\' && end + 1 < inner.size())
                        ++end;
                    v += inner[end++];
                }
                labels[inner.substr(at, eq - at)] = v;
                at = end + 2; /* past '",' */
            }
        }
        json number;
        try {
            number = value == "+Inf" ? json("+Inf") : json(std::stod(value));
        } catch (const std::exception &) {
            number = value;
        }
        samples.push_back(json{{"name", name}, {"labels", labels}, {"value", number}});
    }
    return samples;
}

} // namespace gs::gsctl
