/* SPDX-License-Identifier: MIT */
#include "libha_gs/token_entry.hpp"

namespace gs::client {

std::shared_ptr<const TokenEntry> TokenEntry::forJoin(const ha_gs_join_request_t &request)
{
    /* make_shared cannot reach the private constructor. */
    std::shared_ptr<TokenEntry> e(new TokenEntry(Kind::Provider));
    ha_gs_join_request_t &copy = e->request_.gs_join_request;
    copy = request;
    if (request.gs_group_attributes) {
        e->attributes_ = *request.gs_group_attributes;
        if (e->attributes_.gs_group_name)
            e->groupName_ = e->attributes_.gs_group_name;
        if (e->attributes_.gs_source_group_name)
            e->sourceGroupName_ = e->attributes_.gs_source_group_name;
        e->attributes_.gs_group_name = e->groupName_.c_str();
        e->attributes_.gs_source_group_name = request.gs_group_attributes->gs_source_group_name
                                                  ? e->sourceGroupName_.c_str()
                                                  : nullptr;
        copy.gs_group_attributes = &e->attributes_;
    }
    if (request.gs_provider_local_name) {
        e->localName_ = request.gs_provider_local_name;
        copy.gs_provider_local_name = e->localName_.c_str();
    }
    return e;
}

std::shared_ptr<const TokenEntry> TokenEntry::forSubscribe(const ha_gs_subscribe_request_t &request)
{
    std::shared_ptr<TokenEntry> e(new TokenEntry(Kind::Subscriber));
    ha_gs_subscribe_request_t &copy = e->request_.gs_subscribe_request;
    copy = request;
    if (request.gs_subscription_group)
        e->groupName_ = request.gs_subscription_group;
    copy.gs_subscription_group = e->groupName_.c_str();
    return e;
}

} // namespace gs::client
