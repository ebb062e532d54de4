/* SPDX-License-Identifier: MIT */
#include "gsd/corosync_info.hpp"

#include "gsd/broker_error.hpp"

#include <corosync/cmap.h>
#include <corosync/corotypes.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <stdexcept>

namespace gs {

namespace {

constexpr std::string_view kNodePrefix = "nodelist.node.";

BrokerError cmapError(const std::string &what, cs_error_t rc)
{
    return BrokerError(
        BrokerError::Kind::Config,
        fmt::format("cannot read Corosync's configuration: {}: {}", what, cs_strerror(rc)));
}

class Cmap {
  public:
    Cmap()
    {
        const cs_error_t rc = cmap_initialize(&handle_);
        if (rc != CS_OK)
            throw cmapError("cmap_initialize (is corosync running?)", rc);
    }
    ~Cmap() { cmap_finalize(handle_); }
    Cmap(const Cmap &) = delete;
    Cmap &operator=(const Cmap &) = delete;

    uint32_t u32(const std::string &key) const
    {
        uint32_t value = 0;
        const cs_error_t rc = cmap_get_uint32(handle_, key.c_str(), &value);
        if (rc != CS_OK)
            throw cmapError(key, rc);
        return value;
    }

    /* Every key under `prefix` with its value as text (numbers in decimal,
     * strings as they are; other types skipped). */
    std::map<std::string, std::string> under(const char *prefix) const
    {
        std::map<std::string, std::string> out;
        cmap_iter_handle_t iter = 0;
        cs_error_t rc = cmap_iter_init(handle_, prefix, &iter);
        if (rc != CS_OK)
            throw cmapError(std::string("iterating ") + prefix, rc);
        char key[CMAP_KEYNAME_MAXLEN + 1];
        size_t length = 0;
        cmap_value_types_t type{};
        while ((rc = cmap_iter_next(handle_, iter, key, &length, &type)) == CS_OK) {
            if (type == CMAP_VALUETYPE_STRING) {
                char *text = nullptr;
                if (cmap_get_string(handle_, key, &text) == CS_OK) {
                    out[key] = text;
                    std::free(text);
                }
            } else if (type == CMAP_VALUETYPE_UINT32) {
                uint32_t value = 0;
                if (cmap_get_uint32(handle_, key, &value) == CS_OK)
                    out[key] = std::to_string(value);
            } else if (type == CMAP_VALUETYPE_UINT8) {
                uint8_t value = 0;
                if (cmap_get_uint8(handle_, key, &value) == CS_OK)
                    out[key] = std::to_string(value);
            }
        }
        cmap_iter_finalize(handle_, iter);
        return out;
    }

  private:
    cmap_handle_t handle_ = 0;
};

} // namespace

std::vector<CorosyncNode> nodelistFromKeys(const std::map<std::string, std::string> &keys)
{
    std::map<unsigned long, CorosyncNode> byIndex;
    std::map<unsigned long, bool> hasId;
    for (const auto &[key, value] : keys) {
        if (key.compare(0, kNodePrefix.size(), kNodePrefix) != 0)
            continue;
        const std::string rest = key.substr(kNodePrefix.size());
        const size_t dot = rest.find('.');
        if (dot == std::string::npos)
            continue;
        unsigned long index = 0;
        const auto [end, ec] = std::from_chars(rest.data(), rest.data() + dot, index);
        if (ec != std::errc() || end != rest.data() + dot)
            continue;
        const std::string field = rest.substr(dot + 1);
        CorosyncNode &node = byIndex[index];
        if (field == "nodeid") {
            uint32_t id = 0;
            const auto [idEnd, idEc] =
                std::from_chars(value.data(), value.data() + value.size(), id);
            if (idEc != std::errc() || idEnd != value.data() + value.size() || id == 0)
                throw std::invalid_argument(
                    fmt::format("nodelist.node.{}.nodeid is '{}', not a node id", index, value));
            node.nodeId = id;
            hasId[index] = true;
        } else if (field == "name") {
            node.name = value;
        } else if (field == "ring0_addr") {
            node.ring0Addr = value;
        }
    }
    std::vector<CorosyncNode> out;
    for (auto &[index, node] : byIndex) {
        if (!hasId[index])
            throw std::invalid_argument(fmt::format(
                "nodelist.node.{} has no nodeid (gsd --cluster needs explicit node ids)", index));
        out.push_back(std::move(node));
    }
    std::sort(out.begin(), out.end(),
              [](const CorosyncNode &a, const CorosyncNode &b) { return a.nodeId < b.nodeId; });
    for (size_t i = 1; i < out.size(); ++i)
        if (out[i].nodeId == out[i - 1].nodeId)
            throw std::invalid_argument(
                fmt::format("two nodelist entries have node id {}", out[i].nodeId));
    return out;
}

CorosyncInfo readCorosyncInfo()
{
    const Cmap cmap;
    CorosyncInfo info;
    info.tokenMs = cmap.u32("runtime.config.totem.token");
    info.consensusMs = cmap.u32("runtime.config.totem.consensus");
    try {
        info.nodes = nodelistFromKeys(cmap.under(kNodePrefix.data()));
    } catch (const std::invalid_argument &error) {
        throw BrokerError(BrokerError::Kind::Config,
                          std::string("Corosync's nodelist: ") + error.what());
    }
    return info;
}

} // namespace gs
