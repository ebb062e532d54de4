/* SPDX-License-Identifier: MIT */
/*
 * One CMM node table for the domain (contract §6.7, §6.9), through cmm.h:
 * a gsd whose --cmm-nodes differs from the table in force is refused at
 * sync with a log line naming the difference; cmm_config_reload on the
 * master (or SIGHUP to its gsd) carries the master's table to every node,
 * and from then on that is the table a gsd must bring.
 */
#include "cmm_agent.hpp"
#include "domain.hpp"

#include <csignal>
#include <fstream>
#include <string>
#include <sys/wait.h>

using namespace cluster;

namespace {

const char *const kThree = "# NodeId Domain_id Name Attributes\n"
                           "1 1 alpha eligible\n"
                           "2 1 beta eligible\n"
                           "3 1 gamma -\n";
const char *const kFour = "1 1 alpha eligible\n"
                          "2 1 beta eligible\n"
                          "3 1 gamma -\n"
                          "4 1 delta -\n";

/* Node k's own table file. */
std::string tableOf(Cluster &c, int node)
{
    return c.workDir() + "/cmm-n" + std::to_string(node) + ".table";
}

void writeTable(Cluster &c, int node, const char *text)
{
    std::ofstream(tableOf(c, node)) << text;
}

std::vector<std::string> withTable(Cluster &c, int node)
{
    return {"--cmm-nodes", tableOf(c, node)};
}

void startWithTables(Cluster &c)
{
    for (int k : c.all()) {
        c.startGsd(k, withTable(c, k));
        REQUIRE_MESSAGE(c.waitSynced(k), c.describe());
    }
}

bool exitsNonZero(Cluster &c, int node, int timeoutMs)
{
    const std::optional<int> status = c.waitGsdExit(node, timeoutMs);
    return status && !(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

/* Until node k's agent answers `potential 4` with `answer`. */
std::string waitPotential(CmmAgent &agent, const std::string &answer)
{
    std::string seen;
    for (const int64_t deadline = nowMs() + 10000; nowMs() < deadline; sleepMs(100))
        if ((seen = agent.call("potential 4")) == answer)
            break;
    return seen;
}

} // namespace

TEST_CASE("cluster cmm table: a gsd whose --cmm-nodes differs from the domain's is refused, the "
          "difference named")
{
    Cluster c;
    for (int k : c.all())
        writeTable(c, k, kThree);
    writeTable(c, 3, "1 1 alpha eligible\n2 1 beta eligible\n3 1 gamma eligible\n");
    for (int k : {1, 2}) {
        c.startGsd(k, withTable(c, k));
        REQUIRE_MESSAGE(c.waitSynced(k), c.describe());
    }
    c.spawnGsd(3, withTable(c, 3));
    CHECK(exitsNonZero(c, 3, 20000));
    const std::string log = c.gsdLog(3);
    INFO("gsd on node 3 said:\n" << log);
    CHECK(log.find("refused at sync") != std::string::npos);
    CHECK(log.find("cmm node 3: domain '3 1 gamma - addr= swload=', this gsd '3 1 gamma eligible "
                   "addr= swload='") != std::string::npos);

    /* With the domain's table it is let in, with the domain's names. */
    writeTable(c, 3, kThree);
    c.startGsd(3, withTable(c, 3));
    REQUIRE_MESSAGE(c.waitSynced(3), c.describe());
    CmmAgent agent("cmm@n3", c.endpoint(3));
    REQUIRE(agent.ready());
    CHECK(agent.call("view") == "count=3 members=[1:alpha:M 2:beta:V 3:gamma:-] master=1 vice=2");
}

TEST_CASE("cluster cmm table: cmm_config_reload on the master carries its table to every node; "
          "a gsd must then bring that table")
{
    Cluster c;
    for (int k : c.all())
        writeTable(c, k, kThree);
    startWithTables(c);
    CmmAgent one("cmm@n1", c.endpoint(1)), two("cmm@n2", c.endpoint(2)),
        three("cmm@n3", c.endpoint(3));
    REQUIRE(one.ready());
    REQUIRE(two.ready());
    REQUIRE(three.ready());
    CHECK(three.call("potential 4") == "ESRCH");

    /* Only the master's file is edited: its reload is the domain's. */
    writeTable(c, 1, kFour);
    CHECK(two.call("reload") == "EPERM");
    CHECK(one.call("reload") == "OK");
    for (CmmAgent *agent : {&one, &two, &three})
        CHECK(waitPotential(*agent, "OK delta O ineligible") == "OK delta O ineligible");
    /* Configured but not up: not a member, no notification. */
    CHECK(three.call("view") == "count=3 members=[1:alpha:M 2:beta:V 3:gamma:-] master=1 vice=2");
    CHECK(three.settle(300) == 0);

    /* Node 3's gsd restarted with its old file: refused, naming node 4. */
    c.stopGsd(3);
    c.spawnGsd(3, withTable(c, 3));
    CHECK(exitsNonZero(c, 3, 20000));
    CHECK(c.gsdLog(3).find("cmm node 4: domain '4 1 delta - addr= swload=', this gsd has no "
                           "such node") != std::string::npos);
    writeTable(c, 3, kFour);
    c.startGsd(3, withTable(c, 3));
    REQUIRE_MESSAGE(c.waitSynced(3), c.describe());

    /* SIGHUP to the master's gsd reloads too: node 4 removed again. */
    writeTable(c, 1, kThree);
    c.killGsd(1, SIGHUP);
    CHECK(waitPotential(two, "ESRCH") == "ESRCH");
    CHECK(c.gsdLog(1).find("CMM node table reloaded") != std::string::npos);
}
