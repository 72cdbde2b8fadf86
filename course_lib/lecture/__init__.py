"""The lecture edition: slides, an executed edition and an offline course site.

All three are views of the chapter notebooks, never second copies of their text:

- ``markup``: the slide metadata every chapter cell carries (slide, sub-slide, fragment,
  skip, notes) and the rules that give a new cell its first value;
- ``edition``: runs every chapter once (quick or full mode) into a build folder, re-running
  only chapters whose code changed, and records device and time per chapter;
- ``slides``: one offline reveal.js deck per chapter, with speaker notes;
- ``site``: the Sphinx course site, a student build and an instructor build with the guide;
- ``vendor``: the JavaScript the decks and the site load, from the npm registry, never a CDN.

``python -m course_lib.lecture --help`` lists the commands; the Makefile targets
``executed``, ``slides`` and ``site`` call them.
"""
