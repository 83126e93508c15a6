// Vertex credentials: Google Application Default Credentials through google-auth-library
// (a key file, workload identity, gcloud user credentials, or the metadata server).
import { GoogleAuth } from 'google-auth-library';

export class VertexAuth {
  private readonly auth: GoogleAuth;

  constructor(keyFile?: string) {
    this.auth = new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'], ...(keyFile ? { keyFilename: keyFile } : {}) });
  }

  /** Authorization header; the library caches the token and refreshes it before expiry. */
  async headers(): Promise<Record<string, string>> {
    const token = await this.auth.getAccessToken();
    if (!token) throw new Error('Application Default Credentials returned no access token');
    return { authorization: `Bearer ${token}` };
  }
}
