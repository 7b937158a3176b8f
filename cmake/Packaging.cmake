# What `cmake --install` puts where, and the Debian package CPack makes of it
# (`cmake --build build && cd build && cpack -G DEB`; docs/install.md). cli/CMakeLists.txt
# installs the binary, the man page and the completions; this file the rest:
#
#   /etc/recomp/recomp.toml            config/recomp.toml, every key with its default (conffile)
#   /etc/default/recomp-worker         RECOMP_WORKER_ARGS for recomp-worker.service (conffile)
#   <prefix>/lib/systemd/system/       recomp-coordinator.service, recomp-worker.service,
#                                      recomp-gc.service and recomp-gc.timer (daily store gc)
#   <prefix>/share/doc/recomp/         docs/*.md, docs/schemas/
#   <prefix>/share/recomp/             the T32 sample: config/pipelines/t32.toml and the
#                                      examples/t32 tools it names (by relative paths, kept)
include(GNUInstallDirs)

set(RECOMP_PACKAGING ${CMAKE_SOURCE_DIR}/packaging)

# /etc is where the config search path looks (cli/config.cpp: --config, $RECOMP_CONFIG,
# $XDG_CONFIG_HOME/recomp/recomp.toml, /etc/recomp/recomp.toml). It is chosen at install time,
# because CPack installs with its own prefix (/usr) whatever CMAKE_INSTALL_PREFIX was at
# configure time: /etc for the prefixes / and /usr (the .deb), <prefix>/etc for any other
# (found there only through --config or $RECOMP_CONFIG).
install(CODE "set(RECOMP_INSTALL_SOURCES \"${CMAKE_SOURCE_DIR}\")")
install(CODE [[
  if(CMAKE_INSTALL_PREFIX MATCHES "^/(usr/?)?$")
    set(recomp_etc /etc)
  else()
    set(recomp_etc "${CMAKE_INSTALL_PREFIX}/etc")
  endif()
  file(INSTALL DESTINATION "${recomp_etc}/recomp" TYPE FILE
       FILES "${RECOMP_INSTALL_SOURCES}/config/recomp.toml")
  file(INSTALL DESTINATION "${recomp_etc}/default" TYPE FILE RENAME recomp-worker
       FILES "${RECOMP_INSTALL_SOURCES}/packaging/recomp-worker.default")
]])

install(FILES ${RECOMP_PACKAGING}/recomp-coordinator.service
              ${RECOMP_PACKAGING}/recomp-worker.service
              ${RECOMP_PACKAGING}/recomp-gc.service
              ${RECOMP_PACKAGING}/recomp-gc.timer
        DESTINATION lib/systemd/system)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md" PATTERN "*.json")
install(DIRECTORY ${CMAKE_SOURCE_DIR}/config/pipelines
        DESTINATION ${CMAKE_INSTALL_DATADIR}/recomp/config)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/t32
        DESTINATION ${CMAKE_INSTALL_DATADIR}/recomp/examples
        USE_SOURCE_PERMISSIONS
        FILES_MATCHING PATTERN "*.py" PATTERN "*.c" PATTERN "*.h" PATTERN "*.s" PATTERN "*.md"
                       PATTERN "run"
                       PATTERN "tests" EXCLUDE PATTERN "__pycache__" EXCLUDE)

# The Debian package: recomp_<version>_<arch>.deb.
set(RECOMP_PACKAGE_MAINTAINER "recomp maintainers <recomp@invalid>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME recomp)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${RECOMP_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "local-first worker pool for static recompilation pipelines")
set(CPACK_PACKAGE_DESCRIPTION
    "A coordinator accepts runs of staged pipelines (binary, analysis, lifted C, build,\n\
validation), a broker hands their jobs to stateless workers over ZeroMQ (CURVE between\n\
machines), jobs run confined with bubblewrap, outputs go into a content-addressed\n\
artifact store, and every state change is an event. One binary, recomp; systemd\n\
units for a coordinator, a worker and a daily gc of the artifact store.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies from dpkg-shlibdeps (dpkg-dev; it needs file(1) too), plus what the
# maintainer scripts use. bubblewrap confines jobs (without it they run unconfined, and the
# worker says so); python3 and gcc run the T32 sample's stages.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "bubblewrap")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "python3, gcc")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${RECOMP_PACKAGING}/conffiles ${RECOMP_PACKAGING}/postinst ${RECOMP_PACKAGING}/prerm
    ${RECOMP_PACKAGING}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# As Debian ships binaries: without their debug sections (the build tree keeps them).
set(CPACK_STRIP_FILES ON)
include(CPack)
