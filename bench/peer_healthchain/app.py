"""The smallest HealthChain (PyPI ``healthchain``) patient-view service: the peer in the benchmark.

It runs in its own virtual environment (bench/.venvs/healthchain, made by ``python -m bench.run``), so
nothing here imports the project. The handler returns the same fixed ~2 KB card list as the floor,
built through HealthChain's own ``CDSResponse``/``Card`` models, which is what a HealthChain service
does. Run::

    bench/.venvs/healthchain/bin/uvicorn app:app --app-dir bench/peer_healthchain --port 8092

The service is then at POST /cds/cds-services/mbc-treatment-options (HealthChain's default paths).
"""

from __future__ import annotations

import json
from pathlib import Path

from healthchain.gateway import CDSHooksService, HealthChainAPI
from healthchain.models.requests.cdsrequest import CDSRequest
from healthchain.models.responses.cdsresponse import CDSResponse

CARDS = json.loads((Path(__file__).resolve().parents[1] / "cards_fixture.json").read_text())["cards"]

app = HealthChainAPI(title="HealthChain peer (benchmark)")
cds = CDSHooksService()


@cds.hook("patient-view", id="mbc-treatment-options")
def treatment_options(request: CDSRequest) -> CDSResponse:
    return CDSResponse(cards=CARDS)


app.register_service(cds)
