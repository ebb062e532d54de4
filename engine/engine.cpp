/* SPDX-License-Identifier: MIT */
/* Work in progress: replaced by the full engine in the next commit. */
#include "engine/engine.hpp"

namespace gs {

struct Engine::Impl {
    EngineConfig config;
};

Engine::Engine(EngineConfig config) : impl_(std::make_unique<Impl>()) { impl_->config = config; }
Engine::~Engine() = default;
void Engine::process(const Event &, std::vector<Action> &) {}
int16_t Engine::nodeNumber() const { return impl_->config.nodeNumber; }
std::vector<std::string> Engine::groupNames() const { return {}; }
std::optional<GroupView> Engine::group(const std::string &) const { return std::nullopt; }
size_t Engine::clientCount() const { return 0; }
uint64_t Engine::stateMemory() const { return 0; }
std::string Engine::checkInvariants() const { return {}; }

} // namespace gs
