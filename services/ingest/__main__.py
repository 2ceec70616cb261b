from services.ingest.app import create
from services.ingest.settings import IngestSettings
from shared.service import serve

settings = IngestSettings()
serve(create(settings), settings)
