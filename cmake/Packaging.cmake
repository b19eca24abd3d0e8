# Man pages, the systemd units and the Debian package (cpack -G DEB), on top
# of the install rules in the top-level CMakeLists.txt. Included from there.
#   cmake --preset release && cmake --build --preset release
#   (cd build/release && cpack -G DEB)     # -> framed_1.0.0_amd64.deb

# --- Man pages, generated from each program's --help and --version by
# help2man at build time (so they never disagree with the program), and
# installed gzipped as Debian policy wants. Without help2man the build goes
# on without them, and the package test says why it skips.
find_program(FRAMED_HELP2MAN help2man)
find_program(FRAMED_GZIP gzip)
if(FRAMED_HELP2MAN AND FRAMED_GZIP)
  set(FRAMED_MAN_PAGES ON)
else()
  set(FRAMED_MAN_PAGES OFF)
  message(STATUS "help2man or gzip not found: no man pages (scripts/setup.sh installs help2man)")
endif()

set(framed_man_pages)
function(framed_man_page target section summary)
  if(NOT FRAMED_MAN_PAGES OR NOT TARGET ${target})
    return()
  endif()
  set(page ${PROJECT_BINARY_DIR}/man/${target}.${section})
  # gzip -n leaves out the name and time stamp, so the page is reproducible.
  add_custom_command(OUTPUT ${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND ${FRAMED_HELP2MAN} --no-info --section=${section} --name=${summary}
            --output=${page} $<TARGET_FILE:${target}>
    COMMAND ${FRAMED_GZIP} -9nf ${page}
    DEPENDS ${target}
    COMMENT "Generating the man page ${target}(${section})"
    VERBATIM)
  set(framed_man_pages ${framed_man_pages} ${page}.gz PARENT_SCOPE)
  install(FILES ${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endfunction()

framed_man_page(framed-server 8 "echo server for length-prefixed frames over TCP")
framed_man_page(framed-client 1 "send length-prefixed frames and verify each echo")
framed_man_page(framed-bench 1 "load generator for length-prefixed frame servers")
framed_man_page(framed-router 8 "frame-aware load balancer for length-prefixed frames")
if(framed_man_pages)
  add_custom_target(framed_man ALL DEPENDS ${framed_man_pages})
endif()

# --- systemd: the socket and service units. Relative to the prefix, so the
# package puts them in /usr/lib/systemd/system, and an install into a
# scratch prefix stays inside it.
install(FILES deploy/framed-server.service deploy/framed-server.socket
        DESTINATION lib/systemd/system)
# The service's environment file belongs in /etc whatever the prefix. An
# absolute destination would make a plain `cmake --install --prefix DIR`
# write to the real /etc, so it is a component of its own that only the
# package installs (cpack names it; a plain install leaves it out).
install(FILES deploy/framed-server.default DESTINATION /etc/default RENAME framed-server
        COMPONENT etc EXCLUDE_FROM_ALL)

# The README (how to run and deploy) and the changelog, where Debian keeps
# a package's documentation.
install(FILES README.md CHANGELOG.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
# Examples for TLS deployments: the systemd drop-in (LoadCredential=) and
# HAProxy terminating or passing TLS through (deploy/README.md).
install(FILES deploy/framed-server-tls.conf deploy/haproxy-tls.cfg deploy/haproxy.cfg
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# --- The Debian package.
set(CPACK_PACKAGE_NAME framed)
set(CPACK_PACKAGE_VENDOR "framed")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(FRAMED_MAINTAINER "framed maintainers <maintainers@framed.invalid>"
    CACHE STRING "The Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT ${FRAMED_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${FRAMED_MAINTAINER})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "TCP server and toolkit for length-prefixed messages")
# The summary is the Description line; this is the extended description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "framed-server echoes length-prefixed frames (a 4-byte big-endian length, then
the payload) with poll or epoll workers, bounded memory, timeouts and a
graceful drain; it runs under systemd with socket activation. The package
also has framed-router (a load balancer that balances frames, not
connections), framed-client, framed-bench (load generator) and framed-conform
(protocol conformance checker), and the static libraries, headers, CMake
package and pkg-config file for building servers on the framed library.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # framed_1.0.0_amd64.deb
# Install into the staging root with DESTDIR and the prefix /usr, so the
# absolute /etc/default destination lands in the package rather than on the
# building machine, whatever CMAKE_INSTALL_PREFIX the build was given.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# The programs link libstdc++ and libc dynamically (the framed libraries are
# static): dpkg-shlibdeps computes those dependencies from the binaries.
find_program(FRAMED_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(FRAMED_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6 (>= 2.34), libstdc++6 (>= 12), libgcc-s1 (>= 3.0)")
endif()
# One package with every component: the default one and /etc.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified etc)
# /etc/default/framed-server is a conffile: an upgrade keeps the operator's
# edits. The maintainer scripts tell systemd about the units and stop the
# service on removal.
# configure_file keeps the scripts' execute bits and reruns when they change.
foreach(file conffiles postinst prerm postrm)
  configure_file(deploy/debian/${file} ${PROJECT_BINARY_DIR}/debian/${file} COPYONLY)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_BINARY_DIR}/debian/conffiles ${PROJECT_BINARY_DIR}/debian/postinst
    ${PROJECT_BINARY_DIR}/debian/prerm ${PROJECT_BINARY_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_GENERATOR DEB)
include(CPack)
