# Layers the build enforces (STYLE.md). Sources include headers by their path from the project
# root ("target/scsi/sense.hpp"), but no target gets the project root as an include directory:
# each target gets its own staging folder in the build tree, build/include/<target>/, holding a
# symlink to each source folder whose headers it exposes, at the same relative path
# (build/include/atsarray_scsi/target/scsi -> <source>/target/scsi). A translation unit therefore
# sees exactly the headers of the targets it links, and an include across a forbidden line ends in
# "No such file or directory". Where a header exposes another layer on purpose (target/scsi/lun.hpp
# includes backend/block_store.hpp, so whoever sees lun.hpp sees the store interface), the rule
# check below (cmake/check_layers.py, run by every build) still names the forbidden include.
#
# Symlinks, not copies: an edited header is seen without a reconfigure and diagnostics lead to
# the file itself. A folder link also shows a header added later without touching CMake.

# atsarray_headers(<target> <INTERFACE|PUBLIC|PRIVATE> <folder> [FILES <file>...])
#   Exposes <folder> (relative to the project root) to <target>'s own sources and, unless
#   PRIVATE, to whoever links <target>. With FILES, only the named headers of <folder> are
#   exposed: a narrow interface, one file a line in the caller. One call per target and folder.
function(atsarray_headers target scope folder)
  cmake_parse_arguments(PARSE_ARGV 3 arg "" "" "FILES")
  set(root "${PROJECT_BINARY_DIR}/include/${target}")
  set(link "${root}/${folder}")
  get_filename_component(parent "${link}" DIRECTORY)
  file(MAKE_DIRECTORY "${parent}")
  # Never write through a link into the source tree (a folder exposed both whole and in part).
  file(REAL_PATH "${root}" real_root)
  file(REAL_PATH "${parent}" real_parent)
  string(FIND "${real_parent}/" "${real_root}/" at)
  if(NOT at EQUAL 0)
    message(FATAL_ERROR "atsarray_headers(${target}): ${folder} lies in a folder already exposed")
  endif()
  if(arg_FILES)
    # Start afresh: a whole-folder link, or a header dropped from the list, from an earlier
    # configure. REMOVE_RECURSE removes links, never what they point to.
    if(IS_SYMLINK "${link}")
      file(REMOVE "${link}")
    elseif(IS_DIRECTORY "${link}")
      file(REMOVE_RECURSE "${link}")
    endif()
    file(MAKE_DIRECTORY "${link}")
    foreach(file IN LISTS arg_FILES)
      if(NOT EXISTS "${PROJECT_SOURCE_DIR}/${folder}/${file}")
        message(FATAL_ERROR "atsarray_headers(${target}): no ${folder}/${file}")
      endif()
      file(CREATE_LINK "${PROJECT_SOURCE_DIR}/${folder}/${file}" "${link}/${file}" SYMBOLIC)
    endforeach()
  else()
    if(NOT IS_DIRECTORY "${PROJECT_SOURCE_DIR}/${folder}")
      message(FATAL_ERROR "atsarray_headers(${target}): no folder ${folder}")
    endif()
    if(IS_DIRECTORY "${link}" AND NOT IS_SYMLINK "${link}")
      file(REMOVE_RECURSE "${link}")  # single-file links from an earlier configure
    endif()
    file(CREATE_LINK "${PROJECT_SOURCE_DIR}/${folder}" "${link}" SYMBOLIC)
  endif()
  target_include_directories(${target} ${scope} "${root}")
endfunction()
