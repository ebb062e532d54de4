/* SPDX-License-Identifier: MIT */
/*
 * gsd's CMM node table (docs/cmm-porting.md, "gsd configuration").
 *
 * Without --cmm-nodes the table has one row: this gsd's node number, domain
 * id 1, the host name, master-eligible unless --cmm-ineligible. With
 * --cmm-nodes FILE, every non-blank line not starting with '#' is a row
 *
 *     NodeId Domain_id Name Attributes
 *
 * where Attributes is "-" or a comma-separated list of: eligible, frozen,
 * excluded, disqualified, synchro_needed, addr=TEXT, swload=TEXT.
 * --cmm-ineligible then clears the eligibility of this node's row.
 */
#pragma once

#include "engine/cmm_engine.hpp"

#include <stdexcept>
#include <string>

namespace gs::broker {

struct CmmTableError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct CmmTableSource {
    std::string file; /* empty: the one-node default table */
    int node = 1;     /* this gsd's node number */
    bool ineligible = false;
};

/* Builds and validates the table (cmm::validateTable); throws CmmTableError
 * with a message naming the file and line. */
cmm::NodeTable loadCmmTable(const CmmTableSource &source);

} // namespace gs::broker
