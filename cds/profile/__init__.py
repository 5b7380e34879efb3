"""FHIR resources -> typed ``PatientProfile`` (pure; every fact keeps the resources and dates it came from).

Entry point: ``cds.profile.derive.build_profile``. One module per topic, each documenting its rules:

* ``patient``      age, sex, deceased
* ``conditions``   breast_cancer, metastatic, sites, visceral / bone-only (with ``staging`` and
  ``other_primary``: whose cancer a metastasis is)
* ``receptors``    er/pr/hormone_receptor/her2 status, her2 ihc/ish/low, subtype, discordance
  (readings from ``receptor_collect``, values from ``receptor_values`` / ``her2_values``, decisions in
  ``receptor_status`` / ``her2_status``)
* ``genomics``     germline_brca; ``pd_l1`` pd_l1; ``biomarkers`` PIK3CA/AKT1/PTEN/ESR1, CPS, HER2-ultralow
* ``menopause``    menopausal_status (reason in ``Fact.note``); thresholds in ``MenopauseThresholds``
* ``journey``      the treatment journey: regimens and lines (``regimens``), what is current, what the
  disease progressed on, early relapse (``relapse``), from the records read by ``medications``
* ``safety``       interstitial lung disease, hyperglycaemia risk, cardiac dysfunction, long QT
  (``measurements``: HbA1c, LVEF, QTc)
* ``common`` / ``values`` / ``dates``  total helpers over FHIR read models, their values and dates

Code lists are data (``cards/codes/*.yaml``, loaded by ``cds.fhir.codes.Terminology``). Anything that
could not be read becomes a ``DataIssue`` in ``profile.issues``; nothing here raises on odd data.
"""
