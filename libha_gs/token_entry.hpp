/* SPDX-License-Identifier: MIT */
/*
 * What the library remembers about one token: the callbacks its
 * notifications go to, and a private copy of the request that created it.
 *
 * gsd decides whether a token is valid; this table only routes. The copy is
 * what a delayed-error notification shows as gs_failing_request, so it must
 * not point into the application's memory (which may be gone by then).
 */
#pragma once

#include <ha_gs.h>

#include <memory>
#include <string>

namespace gs::client {

class TokenEntry {
  public:
    enum class Kind { Provider, Subscriber };

    /* Copies the request and every string it points to. */
    static std::shared_ptr<const TokenEntry> forJoin(const ha_gs_join_request_t &request);
    static std::shared_ptr<const TokenEntry> forSubscribe(const ha_gs_subscribe_request_t &request);

    TokenEntry(const TokenEntry &) = delete;
    TokenEntry &operator=(const TokenEntry &) = delete;

    Kind kind() const { return kind_; }
    /* Notifications of one group are delivered in order, one at a time. */
    const std::string &group() const { return groupName_; }
    /* The copy of the original request, as gs_failing_request. */
    const ha_gs_proposal_info_t *request() const { return &request_; }
    const ha_gs_join_request_t &join() const { return request_.gs_join_request; }
    const ha_gs_subscribe_request_t &subscribe() const { return request_.gs_subscribe_request; }

  private:
    explicit TokenEntry(Kind kind) : kind_(kind) {}

    Kind kind_;
    std::string groupName_;
    std::string sourceGroupName_;
    std::string localName_;
    ha_gs_group_attributes_t attributes_{};
    ha_gs_proposal_info_t request_{};
};

} // namespace gs::client
