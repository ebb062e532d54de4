/* SPDX-License-Identifier: MIT */
/*
 * gsd as a service: its configuration file (--config) and its readiness
 * and stopping messages to a service manager (sd_notify, NOTIFY_SOCKET).
 */
#include "harness.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace api;

namespace {

/* A file in a fresh temporary directory, removed with it. */
class TempFile {
  public:
    TempFile(const std::string &name, const std::string &text)
    {
        char templ[] = "/tmp/ha_gs-daemon.XXXXXX";
        REQUIRE(mkdtemp(templ) != nullptr);
        dir_ = templ;
        path_ = dir_ + "/" + name;
        std::ofstream(path_) << text;
    }
    ~TempFile()
    {
        std::remove(path_.c_str());
        rmdir(dir_.c_str());
    }
    TempFile(const TempFile &) = delete;
    TempFile &operator=(const TempFile &) = delete;
    const std::string &path() const { return path_; }
    const std::string &dir() const { return dir_; }

  private:
    std::string dir_, path_;
};

} // namespace

TEST_CASE("daemon: --config FILE sets the options its keys name")
{
    const TempFile config("gsd.conf", "# gsd's options, without their dashes\n"
                                      "max-clients = 2\n"
                                      "domain = \"alpha\"\n");
    PrivateGsd gsd({.args = {"--config", config.path()}});
    {
        ScopedEnv domain("HA_DOMAIN_NAME", "beta");
        LocalClient c("c", gsd, false);
        CHECK(c.rc("init") == "HA_GS_DOMAIN_NOT_RECOG");
    }
    ScopedEnv domain("HA_DOMAIN_NAME", "alpha");
    ClientProcess first("c1", gsd);
    ClientProcess second("c2", gsd);
    CHECK(first.rc("join g 1") == "HA_GS_OK");
    first.waitFor({"g: approved JOIN", {"chg=[1.1]"}});
    LocalClient third("c3", gsd, false);
    CHECK(third.rc("init") == "HA_GS_CONNECT_FAILED");
}

TEST_CASE("daemon: the command line wins over the configuration file")
{
    const TempFile config("gsd.conf", "domain = alpha\n");
    PrivateGsd gsd({.args = {"--config", config.path(), "--domain", "beta"}});
    ScopedEnv domain("HA_DOMAIN_NAME", "beta");
    LocalClient c("c", gsd, false);
    CHECK(c.rc("init") == "HA_GS_OK");
}

TEST_CASE("daemon: gsd refuses to start on an unknown key or a missing file")
{
    const TempFile config("gsd.conf", "max-client = 2\n");
    const GsdRun typo = runGsdOnce(
        {"--config", config.path(), "--socket", "ipc://" + config.dir() + "/gsd.sock"}, 10000);
    CHECK_FALSE(typo.timedOut);
    CHECK(WIFEXITED(typo.status));
    CHECK(WEXITSTATUS(typo.status) != 0);
    CHECK(typo.output.find("max-client") != std::string::npos);
    INFO("gsd said: " << typo.output);

    const GsdRun missing = runGsdOnce({"--config", config.dir() + "/absent.conf", "--socket",
                                       "ipc://" + config.dir() + "/gsd.sock"},
                                      10000);
    CHECK_FALSE(missing.timedOut);
    CHECK(WIFEXITED(missing.status));
    CHECK(WEXITSTATUS(missing.status) != 0);
    CHECK(missing.output.find("absent.conf") != std::string::npos);
}
