//! Freshly generated certificates for one control plane: a serving CA and certificate for
//! 127.0.0.1/localhost, a client CA whose certificates the API server trusts (CN = user,
//! O = group), and a service-account signing key.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

pub struct Pki {
    pub dir: PathBuf,
    pub serving_ca: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub client_ca: PathBuf,
    pub service_account_key: PathBuf,
    pub service_account_public_key: PathBuf,
    client_issuer: CertifiedIssuer<'static, KeyPair>,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key"))
        .expect("self-sign CA")
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

impl Pki {
    pub fn generate(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).expect("create pki dir");
        let serving_issuer = ca("kubectl-gitops-test-serving-ca");
        let client_issuer = ca("kubectl-gitops-test-client-ca");

        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default.svc".to_string(),
            "10.0.0.1".to_string(),
        ])
        .expect("serving params");
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_key = KeyPair::generate().expect("serving key");
        let serving_cert = params
            .signed_by(&serving_key, &serving_issuer)
            .expect("sign serving cert");

        let pki = Pki {
            dir: dir.to_path_buf(),
            serving_ca: dir.join("serving-ca.crt"),
            serving_cert: dir.join("apiserver.crt"),
            serving_key: dir.join("apiserver.key"),
            client_ca: dir.join("client-ca.crt"),
            service_account_key: dir.join("service-account.key"),
            service_account_public_key: dir.join("service-account.pub"),
            client_issuer,
        };
        write(&pki.serving_ca, &serving_issuer.pem());
        write(&pki.serving_cert, &serving_cert.pem());
        write(&pki.serving_key, &serving_key.serialize_pem());
        write(&pki.client_ca, &pki.client_issuer.pem());
        let service_account = KeyPair::generate().expect("service-account key");
        write(&pki.service_account_key, &service_account.serialize_pem());
        write(
            &pki.service_account_public_key,
            &service_account.public_key_pem(),
        );
        pki
    }

    /// A client certificate and key for `user` in `group` (if any), signed by the client CA.
    /// Returns (certificate path, key path).
    pub fn client_cert(&self, user: &str, group: Option<&str>) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name.push(DnType::CommonName, user);
        if let Some(group) = group {
            params
                .distinguished_name
                .push(DnType::OrganizationName, group);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("client key");
        let cert = params
            .signed_by(&key, &self.client_issuer)
            .expect("sign client cert");
        let safe: String = user
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let cert_path = self.dir.join(format!("{safe}.crt"));
        let key_path = self.dir.join(format!("{safe}.key"));
        write(&cert_path, &cert.pem());
        write(&key_path, &key.serialize_pem());
        (cert_path, key_path)
    }
}

/// A CA that has nothing to do with the control plane, for TLS failure tests.
pub fn unrelated_ca(dir: &Path) -> PathBuf {
    let path = dir.join("unrelated-ca.crt");
    write(&path, &ca("unrelated-ca").pem());
    path
}

/// A fresh CA and a server certificate for 127.0.0.1/localhost signed by it, for TLS servers
/// the tests run (the Git server). Returns (CA certificate, server certificate, server key).
pub fn loopback_server_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let issuer = ca(&format!("{name}-ca"));
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("server params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, &issuer).expect("sign server cert");
    let paths = (
        dir.join(format!("{name}-ca.crt")),
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    write(&paths.0, &issuer.pem());
    write(&paths.1, &cert.pem());
    write(&paths.2, &key.serialize_pem());
    paths
}

/// A rustls server configuration for a loopback TLS server of the tests (no client
/// certificates asked for), from PEM files such as `loopback_server_cert` writes.
pub fn server_tls_config(cert: &Path, key: &Path) -> std::sync::Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![CertificateDer::from_pem_file(cert).expect("server certificate")];
    let key = PrivateKeyDer::from_pem_file(key).expect("server key");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server TLS config");
    std::sync::Arc::new(config)
}
