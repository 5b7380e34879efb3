"""FHIR resources -> typed ``PatientProfile`` (pure; every fact keeps the resources and dates it came from).

Entry point: ``cds.profile.derive.build_profile``. One module per topic, each documenting its rules:

* ``patient``      age, sex
* ``conditions``   breast_cancer, metastatic, metastatic_sites, visceral_metastases, bone_only_disease
* ``receptors``    er_status, pr_status, hormone_receptor_status, her2_status/ihc/ish/low, subtype
* ``genomics``     germline_brca, pd_l1
* ``menopause``    menopausal_status (reason in ``Fact.note``); thresholds in ``MenopauseThresholds``
* ``medications``  prior_therapies, metastatic_therapies, metastatic_*_lines, medication_history,
  ovarian_suppression_current
* ``common`` / ``dates``  total helpers over FHIR model instances and partial FHIR dates

Code lists are data (``cards/codes/*.yaml``, loaded by ``cds.fhir.codes.Terminology``). Anything that
could not be read becomes a ``DataIssue`` in ``profile.issues``; nothing here raises on odd data.
"""
